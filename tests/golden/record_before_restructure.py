"""Recorded once, with the code as it was before core/ became packages (commit 4a96e30): the golden
histories tests/training/test_golden_history.py compares the restructured trainer with. Kept as a record; not run by the tests."""
import json, sys, torch
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
torch.set_num_threads(1)
from core.config import RunConfig
from core.training.events import StepReport
from core.training.loop import train

CASES = {
    "mlp_momentum_l1_clip_step": dict(dataset="digits", model="mlp", depth=2, width=64, optimizer="momentum", lr=0.05,
                                      dropout=0.2, l1=1e-5, clip_norm=1.0, schedule="step", lr_step_epochs=1, epochs=3, seed=5),
    "mlp_sigmoid_rmsprop_plateau_early": dict(dataset="digits", model="mlp", depth=3, width=32, activation="sigmoid",
                                              init="normal", init_std=1.0, optimizer="rmsprop", lr=1e-3, schedule="plateau",
                                              plateau_patience=0, early_stopping=True, patience=1, epochs=4, seed=2, l2=1e-4),
    "mlp_overfit_early_stop_restore": dict(dataset="digits", model="mlp", depth=2, width=128, optimizer="adam", lr=1e-2,
                                           train_subset=100, batch_size=16, early_stopping=True, patience=2, epochs=15, seed=4),
    "cnn_digits_bn_aug_cosine": dict(dataset="digits", model="simple_cnn", optimizer="adam", lr=2e-3, batch_norm=True,
                                     aug_shift=0.1, aug_rotation=10.0, aug_zoom=0.1, schedule="cosine", epochs=2, seed=1, dropout=0.2),
    "cnn_mnist5k_subset_sgd_exp": dict(dataset="mnist5k", model="simple_cnn", optimizer="nesterov", lr=0.02, train_subset=400,
                                       schedule="exponential", lr_decay=0.7, epochs=2, seed=3, batch_size=32),
}
out = {"torch": torch.__version__, "threads": 1, "cases": {}}
for name, changes in CASES.items():
    steps = []
    def emit(e):
        if isinstance(e, StepReport):
            steps.extend(e.losses)
    r = train(RunConfig(**changes), "cpu", emit=emit, report_every=10)
    out["cases"][name] = {"config": changes, "status": r.status, "message": r.message,
                          "history": [{k: row[k] for k in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr")} for row in r.history],
                          "first_steps": steps[:30], "best_epoch": r.best_epoch}
    print(name, r.status, r.message, [round(h["val_loss"], 4) for h in r.history])
json.dump(out, open(__import__("pathlib").Path(__file__).with_name("histories_before_restructure.json"), "w"), indent=1)
