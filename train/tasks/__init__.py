"""Task registry. Adding a task: write a module with a `make(**options)` returning a `Task`, register it here."""
import inspect
import warnings

from ltcsn.train.errors import InputError
from ltcsn.train.tasks import add, digits, events, mnist
from ltcsn.train.tasks.base import Task, TensorTask

TASKS = {
    "add": add.make,
    "rdigits": digits.make_rows,
    "sdigits": digits.make_pixels,
    "smnist": mnist.make_smnist,
    "psmnist": mnist.make_psmnist,
    "rmnist": mnist.make_rmnist,
    "fmnist": mnist.make_fmnist,
    "rfmnist": mnist.make_rfmnist,
    "dvsgesture": events.make_dvsgesture,
    "nmnist": events.make_nmnist,
    "shd": events.make_shd,
}


def get_task(name: str, kind: str = None, **options) -> Task:
    """Build a task by name; options (seq_len, data_dir, ...) are passed to its `make`.
    `kind` is accepted (and ignored) so a stored `Task.describe()` rebuilds its task."""
    if name not in TASKS:
        raise InputError(f"unknown task {name!r}; available: {', '.join(sorted(TASKS))}")
    options = {k: v for k, v in options.items() if v is not None}
    make = TASKS[name]
    params = inspect.signature(make).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(options) - set(params))
        if unknown:
            raise InputError(f"task {name!r} does not take option(s) {', '.join(unknown)} "
                             f"(it takes: {', '.join(sorted(params)) or 'none'})")
    return make(**options)


def warn_samples(task: Task, samples, option: str = "--samples"):
    """Warn (one line through `warnings`) when a command asks for more test samples than the task holds; the
    commands then use the whole test set."""
    n_test = len(task.test_set)
    if samples is not None and n_test is not None and samples > n_test:
        warnings.warn(f"{option} {samples} exceeds the {n_test} test samples of {task.name}: all {n_test} are used")


__all__ = ["TASKS", "Task", "TensorTask", "get_task", "warn_samples"]
