"""Layer names: which ones archc accepts, and how each backend writes them (no torch here).

A name is accepted where torch's `add_module` accepts it and every backend can write it: any
printable text without '.', that is not an attribute of torch's module classes (`forward`,
`training`, `keys`, ...; torch refuses those). So torchvision's `block1-0`, `class` or `conv 1`
are fine; the Python emitter quotes names that are not plain identifiers, Graphviz escapes them.
"""

from __future__ import annotations

from .errors import error

# Attributes of nn.Module, nn.Sequential and nn.ModuleDict (torch 2.x; a test keeps this a superset
# of the installed torch's), and those archc gives a built model.
TORCH_ATTRIBUTES = frozenset("""
T_destination _apply _backward_hooks _backward_pre_hooks _buffers _call_impl _compiled_call_impl
_forward_hooks _forward_hooks_always_called _forward_hooks_with_kwargs _forward_pre_hooks
_forward_pre_hooks_with_kwargs _get_backward_hooks _get_backward_pre_hooks _get_item_by_idx _get_name
_is_full_backward_hook _load_from_state_dict _load_state_dict_post_hooks _load_state_dict_pre_hooks
_maybe_warn_non_full_backward_hook _modules _named_members _non_persistent_buffers_set _parameters
_register_load_state_dict_pre_hook _register_state_dict_hook _replicate_for_data_parallel
_save_to_state_dict _slow_forward _state_dict_hooks _state_dict_pre_hooks _version _wrapped_call_impl
add_module append apply bfloat16 buffers call_super_init children clear compile cpu cuda double
dump_patches eval extend extra_repr float forward get_buffer get_extra_state get_parameter
get_submodule half insert ipu items keys load_state_dict modules mtia named_buffers named_children
named_modules named_parameters parameters pop register_backward_hook register_buffer
register_forward_hook register_forward_pre_hook register_full_backward_hook
register_full_backward_pre_hook register_load_state_dict_post_hook register_load_state_dict_pre_hook
register_module register_parameter register_state_dict_post_hook register_state_dict_pre_hook
requires_grad_ set_extra_state set_submodule share_memory state_dict to to_empty train training type
update values xpu zero_grad archc_spec archc_source
""".split())
NAME_HINT = "a layer name is any printable text without '.' (letters, digits, '_', '-', ...)"


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a layer, or None."""
    if not name:
        return "a layer name cannot be empty"
    if "." in name:
        return f"'{name}' is not a valid layer name: torch uses '.' to separate module levels"
    if not name.isprintable():
        return f"{name!r} is not a valid layer name: it contains a control character (a line break, a tab, ...)"
    if name in TORCH_ATTRIBUTES or (name.startswith("__") and name.endswith("__")):
        return f"'{name}' is not a valid layer name: it is an attribute of torch's modules, which torch refuses"
    return None


def check_name(name: str, span, where: str) -> None:
    """Raise a located SpecError if `name` cannot name a layer."""
    problem = name_problem(name)
    if problem:
        raise error(problem, span, where, NAME_HINT)


__all__ = ["TORCH_ATTRIBUTES", "name_problem", "check_name"]
