"""Explicit resource limits that keep hostile specs from exhausting time or memory."""

from .errors import SpecError

MAX_FILE_BYTES = 2 * 1024 * 1024  # a spec file larger than this is refused
MAX_YAML_NODES = 100_000  # nodes as written and after alias expansion
MAX_YAML_ALIASES = 1_000
MAX_NESTING = 64  # nesting of blocks, groups, branches and loops
MAX_LAYERS = 50_000  # IR nodes after expansion
MAX_EXPANSION_STEPS = 100_000  # items expanded plus loop iterations, over the whole spec
MAX_LOOP_ITERATIONS = 10_000  # one loop
MAX_EXPR_CHARS = 1_000
MAX_EXPR_NODES = 200  # AST nodes in one expression
MAX_INT_BITS = 64  # integer results beyond this are refused
MAX_LIST_LEN = 10_000  # list values built by an expression
MAX_COMPREHENSION_ITERATIONS = 100_000  # iterations of all list comprehensions in one expression
MAX_EXPR_WORK = 3_000_000  # all expressions of one spec: values built or read, their items counted
MAX_ERRORS = 50  # errors reported for one spec; the rest are counted ("... and N more")
MAX_PARAMS = 10_000_000_000  # parameters of a whole model (overridable)
MAX_SAMPLE_ELEMENTS = 2 ** 48  # elements of one value for one sample (1 PiB in float32): beyond any machine
MAX_EXTENDS_DEPTH = 16
MAX_SPEC_FILES = 64  # distinct files one spec reads: itself, what it extends and imports
MAX_REFERENCES = 1_000  # extends/imports entries resolved in one load (each file is read once)
MAX_TOTAL_BYTES = 4 * 1024 * 1024  # characters of all those files together
MAX_PRECISE_YAML_BYTES = 64 * 1024  # larger texts with a YAML syntax error get libyaml's message


class LimitExceeded(SpecError):
    """A limit was hit: expansion stops at once instead of collecting one error per remaining item."""
