"""Task registry. Adding a task: write a module with a `make(**options)` returning a `Task`, register it here."""
import inspect
import warnings

from ltcsn.schema import Int, Opt, Rec, SchemaError, Str, check
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


# The task record a checkpoint or NIR file stores (`Task.describe()`): name, kind, and the options of its `make`
# (ltcsn.schema; bounds keep a rebuilt task's data within memory).
TASK_RECORD = Rec({
    "name": Str(tuple(TASKS)), "kind": Opt(Str(("classification", "regression"))),
    "seq_len": Opt(Int(1, 100_000)), "n_train": Opt(Int(1, 10_000_000)), "n_test": Opt(Int(1, 1_000_000)),
    "n_val": Opt(Int(0, 1_000_000)), "data_dir": Opt(Str()), "cache_dir": Opt(Str()), "source": Opt(Str()),
    "perm_seed": Opt(Int(0, 2**32 - 1)), "perm_sha": Opt(Str()), "downsample": Opt(Int(1, 1024)),
    "encoding": Opt(Str()),
})


def task_from_record(record, where: str, input_shape=None, n_out: int = None) -> Task:
    """Rebuild the task a file records (its schema checked first); its kind, and the network's input shape and
    outputs when given, must be the rebuilt task's. Raises InputError naming the file and the field."""
    try:
        check(record, TASK_RECORD, path="task")
    except SchemaError as e:
        raise InputError(f"{where}: {e}") from None
    task = get_task(**record)
    for field, stored, rebuilt in (("task.kind", record.get("kind"), task.kind),
                                   ("the network's input shape", None if input_shape is None else
                                    tuple(input_shape), tuple(task.input_shape)),
                                   ("the network's outputs", n_out, task.n_out)):
        if stored is not None and stored != rebuilt:
            raise InputError(f"{where}: {field} is {stored!r}, but task {record['name']!r} has {rebuilt!r}")
    return task


__all__ = ["TASKS", "TASK_RECORD", "Task", "TensorTask", "get_task", "task_from_record", "warn_samples"]
