"""TuneLab's tests; the folders mirror core/'s packages, plus pages/ (AppTest) and browser/ (chromium)."""
