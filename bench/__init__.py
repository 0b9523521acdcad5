"""archc's benchmark harness (not part of the installed package): `python3 -m bench`, see bench/README.md."""
