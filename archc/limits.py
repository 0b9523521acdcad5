"""Explicit resource limits that keep hostile specs from exhausting time or memory."""

from .errors import SpecError

MAX_FILE_BYTES = 2 * 1024 * 1024  # a spec file larger than this is refused
MAX_YAML_NODES = 200_000  # nodes after alias expansion
MAX_YAML_ALIASES = 1_000
MAX_NESTING = 64  # nesting of blocks, groups, branches and loops
MAX_LAYERS = 50_000  # IR nodes after expansion
MAX_EXPANSION_STEPS = 100_000  # items expanded plus loop iterations, over the whole spec
MAX_LOOP_ITERATIONS = 10_000  # one loop
MAX_EXPR_CHARS = 1_000
MAX_EXPR_NODES = 200  # AST nodes in one expression
MAX_INT_BITS = 64  # integer results beyond this are refused
MAX_LIST_LEN = 10_000  # list values built by an expression
MAX_PARAMS = 10_000_000_000  # parameters of a whole model (overridable)
MAX_EXTENDS_DEPTH = 16


class LimitExceeded(SpecError):
    """A limit was hit: expansion stops at once instead of collecting one error per remaining item."""
