"""The gate's name lists: what a mechanism may name, define and reach through attributes.

What it may import by default, and the hooks with their signatures, are the mechanism interface's
(`bilevel_evolve.ground.contract.interface`).

The gate is a static screen, not a Python-in-Python sandbox: the container is the security
boundary. These lists block the known escape primitives (dynamic code, introspection, frame and
format walks, module traversal to `os`/`sys`/`builtins`) so careless or hostile code is rejected
early with a reason an LLM repair round can act on.
"""

from __future__ import annotations

# Builtins that run code, touch files or the terminal, or walk the interpreter. Rejected wherever
# the name appears (a call, an alias `e = eval`, an argument, a default value), not only in calls.
FORBIDDEN_BUILTINS: frozenset[str] = frozenset(
    {
        "exec",
        "eval",
        "compile",
        "open",
        "getattr",
        "setattr",
        "delattr",
        "globals",
        "locals",
        "vars",
        "breakpoint",
        "input",
        "memoryview",
        "help",
        "exit",
        "quit",
        "copyright",
        "credits",
        "license",
        "builtins",
        "printed",
        "execfile",
        "reload",
        "Formatter",
        "SystemExit",
        "KeyboardInterrupt",
    }
)

# Dunder method names a class may define. Access to dunder attributes is separate and narrower.
ALLOWED_DUNDER_METHODS: frozenset[str] = frozenset(
    {
        "__init__",
        "__post_init__",
        "__repr__",
        "__str__",
        "__eq__",
        "__ne__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__hash__",
        "__len__",
        "__contains__",
        "__iter__",
        "__next__",
        "__bool__",
    }
)

# The only dunder attribute a mechanism may read: `super().__init__()`.
ALLOWED_DUNDER_ATTRIBUTES: frozenset[str] = frozenset({"__init__"})

# Dunder names a module may bind (never read).
ALLOWED_DUNDER_STORES: frozenset[str] = frozenset({"__all__"})

# Frame, code, generator, coroutine and traceback internals (RestrictedPython's list plus the
# function and cell internals of older and newer Pythons).
FRAME_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "tb_frame",
        "tb_next",
        "f_back",
        "f_builtins",
        "f_code",
        "f_generator",
        "f_globals",
        "f_locals",
        "f_trace",
        "co_code",
        "co_consts",
        "co_names",
        "gi_frame",
        "gi_code",
        "gi_yieldfrom",
        "cr_await",
        "cr_frame",
        "cr_code",
        "cr_origin",
        "ag_await",
        "ag_frame",
        "ag_code",
        "func_globals",
        "func_code",
        "func_closure",
        "func_defaults",
        "cell_contents",
        "im_func",
    }
)

# Module names that must never be reached, by import or through another module's attributes
# (`typing.sys`, `dataclasses.builtins`, `random._os`, `collections._sys`, `torch.serialization.pickle`).
# Compared after stripping leading underscores, so `_os` and `_thread` count as `os` and `thread`.
# Everyday words that are also module names (`types`, `signal`, `time`, `copy`, `array`, `code`)
# are left out to spare `self.types`; their dangerous members are listed below instead.
DANGEROUS_MODULES: frozenset[str] = frozenset(
    {
        "os",
        "nt",
        "posix",
        "sys",
        "builtins",
        "subprocess",
        "posixsubprocess",
        "ctypes",
        "ctypeslib",
        "cffi",
        "importlib",
        "imp",
        "frozen_importlib",
        "frozen_importlib_external",
        "zipimport",
        "pkgutil",
        "runpy",
        "inspect",
        "pickle",
        "cpickle",
        "dill",
        "cloudpickle",
        "joblib",
        "marshal",
        "shelve",
        "copyreg",
        "socket",
        "socketserver",
        "ssl",
        "http",
        "urllib",
        "urllib3",
        "requests",
        "httpx",
        "ftplib",
        "smtplib",
        "telnetlib",
        "xmlrpc",
        "webbrowser",
        "asyncio",
        "shutil",
        "io",
        "codecs",
        "pathlib",
        "tempfile",
        "glob",
        "dbm",
        "sqlite3",
        "zipfile",
        "tarfile",
        "gzip",
        "bz2",
        "lzma",
        "mmap",
        "fcntl",
        "pty",
        "gc",
        "thread",
        "threading",
        "multiprocessing",
        "concurrent",
        "pdb",
        "bdb",
        "linecache",
        "tokenize",
        "traceback",
        "faulthandler",
        "tracemalloc",
        "atexit",
        "site",
        "sysconfig",
        "logging",
        "psutil",
        "cpp_extension",
        "extbuild",
        "f2py",
        "distutils",
        "setuptools",
        "hub",
        "library",
        "package",
        "serialization",
        "distributed",
        "collect_env",
        "hipify",
        "model_zoo",
        "onnx",
        "tensorboard",
    }
)

# Attribute names that reach files, code objects, dynamic evaluation or attribute lookup by string,
# whatever object they hang off. `eval` is absent on purpose: `net.eval()` is ordinary torch, and
# the builtin itself is unreachable (the name `eval` and every path to `builtins` are blocked).
DANGEROUS_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "exec",
        "compile",
        "open",
        "getattr",
        "setattr",
        "delattr",
        "globals",
        "locals",
        "vars",
        "breakpoint",
        "input",
        "memoryview",
        "system",
        "popen",
        "load_library",
        "load",
        "save",
        "savez",
        "savez_compressed",
        "savetxt",
        "loadtxt",
        "genfromtxt",
        "fromfile",
        "tofile",
        "fromregex",
        "memmap",
        "open_memmap",
        "from_file",
        "DataSource",
        "attrgetter",
        "methodcaller",
        "update_wrapper",
        "wraps",
        "get_type_hints",
        "ForwardRef",
        "make_dataclass",
        "CodeType",
        "FunctionType",
        "LambdaType",
        "MethodType",
        "ModuleType",
        "FrameType",
        "TracebackType",
        "InteractiveInterpreter",
        "InteractiveConsole",
        "interact",
        "runsource",
        "runcode",
        "run_path",
        "run_module",
        # ndarray.dump(path) pickles the array into a file.
        "dump",
        # singledispatch's register() evaluates string annotations (code the gate never parsed).
        "singledispatch",
        "singledispatchmethod",
        # Profiler traces are written to files.
        "export_chrome_trace",
        "export_stacks",
        "export_memory_timeline",
        "tensorboard_trace_handler",
        # Builds a class from a namespace callback: any dunder method, past the gate's class checks.
        "new_class",
    }
)

# Members of allowed modules that import a module by name, read or write files, or compile code, though the
# module itself is allowed (checked on `module.member` chains and `from module import member`).
DANGEROUS_MEMBERS: dict[str, frozenset[str]] = {
    # info(toplevel=NAME) imports the module NAME.
    "numpy": frozenset({"info"}),
    "torch": frozenset(
        {
            "set_default_tensor_type",  # imports a dotted name given as a string
            "get_device_module",  # returns a module (torch.cuda, ...) as a value
            "CompilationUnit",  # compiles TorchScript source text
            "FileCheck",
            "PyTorchFileReader",  # reads and writes archive files
            "PyTorchFileWriter",
            "import_ir_module",
            "import_ir_module_from_buffer",
            "get_file_path",
            "ScriptModuleSerializer",
            "SerializationStorageContext",
            "DeserializationStorageContext",
            "prepare_multiprocessing_environment",
        }
    ),
}

# `str.format` / `format_map` / `string.Formatter` resolve `{0.__class__}`-style fields by
# attribute and item lookup at run time, out of the gate's sight.
FORMAT_ATTRIBUTES: frozenset[str] = frozenset({"format_map", "vformat", "Formatter"})

# Calls allowed where code runs at import time (module level, class bodies, defaults, decorators):
# pure constructors, `dataclasses.field`, and math functions.
PURE_CALLS: frozenset[str] = frozenset(
    {
        "frozenset",
        "tuple",
        "set",
        "dict",
        "list",
        "range",
        "float",
        "int",
        "str",
        "bool",
        "complex",
        "field",
        "namedtuple",
        "NamedTuple",
        "TypeVar",
        "dataclass",
        "lru_cache",
    }
)
PURE_CALL_MODULES: frozenset[str] = frozenset({"math"})

# Decorators allowed at module and class level (they run at import time).
ALLOWED_DECORATORS: frozenset[str] = frozenset(
    {
        "dataclass",
        "staticmethod",
        "classmethod",
        "property",
        "setter",
        "getter",
        "deleter",
        "cache",
        "lru_cache",
        "cached_property",
        "total_ordering",
        "abstractmethod",
        "final",
        "override",
    }
)

SELF_NAMES: frozenset[str] = frozenset({"self", "cls"})


def is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def is_dangerous_module(name: str) -> bool:
    return name.lstrip("_").lower() in DANGEROUS_MODULES
