"""Copying TuneLab's own functions and classes into a generated script: the source of each, preceded
by the module-level functions, classes and UPPER_CASE constants of the same module that it uses."""
from __future__ import annotations

import dis
import inspect
import sys
import textwrap
from typing import Any, Iterator


def _code_objects(obj: Any) -> Iterator[Any]:
    if inspect.isclass(obj):
        for value in vars(obj).values():
            func = getattr(value, "__func__", value)
            if inspect.isfunction(func):
                yield from _code_objects(func)
        return
    stack = [inspect.unwrap(obj).__code__]  # through decorators such as @torch.no_grad()
    while stack:
        code = stack.pop()
        yield code
        stack += [c for c in code.co_consts if inspect.iscode(c)]


def inline_sources(*objects: Any) -> str:
    """Source of the given functions and classes, dependencies first, each headed by the file it
    comes from. Two different objects with one name are an error (the script could hold only one)."""
    done: dict[str, tuple[Any, str]] = {}

    def visit(obj: Any) -> None:
        name = obj.__name__
        if name in done:
            if done[name][0] is not obj:
                raise RuntimeError(f"two inlined objects are both called {name}")
            return
        done[name] = (obj, "")  # placeholder: breaks cycles
        module = sys.modules[obj.__module__]
        used: list[str] = []
        for code in _code_objects(obj):
            # global names only: co_names also holds attribute names (model.train() is not train())
            used += [i.argval for i in dis.get_instructions(code)
                     if i.opname in ("LOAD_GLOBAL", "LOAD_NAME") and i.argval not in used]
        for dep_name in used:
            value = module.__dict__.get(dep_name)
            if value is None or value is obj:
                continue
            if (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == module.__name__:
                visit(value)
            elif dep_name.isupper() and isinstance(value, (int, float, str)) and dep_name not in done:
                done[dep_name] = (value, f"{dep_name} = {value!r}\n")
        source = textwrap.dedent(inspect.getsource(obj))
        where = module.__name__.replace(".", "/") + ".py"
        del done[name]
        done[name] = (obj, f"# from {where}\n{source}")

    for obj in objects:
        visit(obj)
    return "\n\n".join(text.rstrip("\n") for _, text in done.values()) + "\n"
