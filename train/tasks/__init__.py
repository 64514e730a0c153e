"""Task registry. Adding a task: write a module with a `make(**options)` returning a `Task`, register it here."""
from train.tasks import add, digits
from train.tasks.base import Task, TensorTask

TASKS = {
    "add": add.make,
    "rdigits": digits.make_rows,
    "sdigits": digits.make_pixels,
}


def get_task(name: str, kind: str = None, **options) -> Task:
    """Build a task by name; options (seq_len, data_dir, ...) are passed to its `make`.
    `kind` is accepted (and ignored) so a stored `Task.describe()` rebuilds its task."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; available: {', '.join(sorted(TASKS))}")
    return TASKS[name](**{k: v for k, v in options.items() if v is not None})


__all__ = ["TASKS", "Task", "TensorTask", "get_task"]
