"""Running the notebooks as a report: parameters, execution, export, the run index, publishing."""

import sys

# nbformat (under papermill and nbconvert) imports jsonschema, whose optional IRI format checker
# (rfc3987_syntax) compiles a grammar on import: about 1.8 s of every report's start, for a check
# the kit never makes. Marked absent, jsonschema skips that checker and nothing else changes.
# The kernels do the same in kitlib/notebook.py.
if "rfc3987_syntax" not in sys.modules:
    sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
