"""SANDBOX_TESTS cases 2-6: the gate rejects imports, dunder walks, forbidden builtins (called or
aliased), frame walks and format-string traversal, and names the offending line.

Each payload is a hook body (or module header) spliced into an otherwise valid mechanism; the
offending line carries the marker `# <-` and the report must name exactly that line.
"""

from __future__ import annotations

import textwrap

import pytest
from gate_sources import assert_rejected_at, mechanism

from bilevel_evolve.sandbox.gate import check_source


def test_the_template_itself_passes() -> None:
    assert check_source(mechanism("x = 1", "import math")).ok


# -- case 2: imports ----------------------------------------------------------------------------

IMPORT_HEADERS = {
    "import-os": "import os  # <-",
    "import-subprocess": "import subprocess  # <-",
    "import-socket": "import socket  # <-",
    "import-ctypes": "import ctypes  # <-",
    "import-importlib": "import importlib  # <-",
    "import-pickle": "import pickle  # <-",
    "from-os-import-system": "from os import system  # <-",
    "import-os-path": "import os.path  # <-",
    "import-os-as-allowed-name": "import os as math  # <-",
    "import-sys": "import sys  # <-",
    "import-builtins": "import builtins  # <-",
    "import-json-not-in-default-allowlist": "import json  # <-",
    "import-private-stdlib": "import _thread  # <-",
    "import-numpy-ctypeslib": "import numpy.ctypeslib  # <-",
    "from-numpy-import-ctypeslib": "from numpy import ctypeslib  # <-",
    "from-torch-import-hub": "from torch import hub  # <-",
    "import-torch-utils-cpp-extension": "import torch.utils.cpp_extension  # <-",
    "from-typing-get-type-hints": "from typing import get_type_hints  # <-",
    "from-random-private": "from random import _os  # <-",
    "from-numpy-import-load": "from numpy import load  # <-",
    "star-import": "from math import *  # <-",
    "relative-import": "from . import helpers  # <-",
    "relative-import-dotted": "from ..engine import runner  # <-",
    "second-import-on-line-3": "import math\nimport random\nimport shutil  # <-",
}


@pytest.mark.parametrize("header", IMPORT_HEADERS.values(), ids=IMPORT_HEADERS.keys())
def test_disallowed_module_level_import_is_rejected_with_its_line(header: str) -> None:
    assert_rejected_at(mechanism("x = 1", header), {"import"})


HOOK_IMPORTS = {
    "import-os-inside-hook": "import os  # <-\nos.getcwd()",
    "from-subprocess-inside-hook": "from subprocess import run  # <-",
    "dunder-import-call": "__import__('os').system('id')  # <-",
    "dunder-import-alias": "imp = __import__  # <-",
}


@pytest.mark.parametrize("body", HOOK_IMPORTS.values(), ids=HOOK_IMPORTS.keys())
def test_import_inside_a_hook_is_rejected_with_its_line(body: str) -> None:
    assert_rejected_at(mechanism(body), {"import", "dunder", "module-value"})


def test_import_message_lists_the_allowlist_and_the_fix() -> None:
    report = check_source(mechanism("x = 1", "import os  # <-"))
    text = report.to_text()
    assert "import of 'os' is not allowed" in text
    assert "numpy" in text and "math" in text


# -- case 3: dunder walks -----------------------------------------------------------------------

DUNDER_BODIES = {
    "tuple-class-bases-subclasses": "x = ().__class__.__bases__[0].__subclasses__()  # <-",
    "list-class-base-subclasses": "x = [].__class__.__base__.__subclasses__()  # <-",
    "object-subclasses": "x = object.__subclasses__()  # <-",
    "self-class": "x = self.__class__  # <-",
    "self-dict": "x = self.__dict__  # <-",
    "type-mro": "x = type(self).__mro__  # <-",
    "init-globals": "x = self.__init__.__globals__  # <-",
    "ctx-class": "x = ctx.__class__  # <-",
    "builtins-name": "x = __builtins__  # <-",
    "dunder-name-read": "x = __name__  # <-",
    "class-cell": "x = __class__  # <-",
    "reduce-ex": "x = ctx.__reduce_ex__(2)  # <-",
    "lambda-code": "x = (lambda: 0).__code__  # <-",
    "dunder-keyword-name-store": "__loader__ = 1  # <-",
}


@pytest.mark.parametrize("body", DUNDER_BODIES.values(), ids=DUNDER_BODIES.keys())
def test_dunder_walk_is_rejected(body: str) -> None:
    assert_rejected_at(mechanism(body), {"dunder"})


DUNDER_DEFINITIONS = {
    "getattribute": "def __getattribute__(self, name):  # <-\n    return 1",
    "init-subclass": "def __init_subclass__(cls):  # <-\n    pass",
    "reduce": "def __reduce__(self):  # <-\n    return (print, ())",
    "del": "def __del__(self):  # <-\n    pass",
    "class-getitem": "def __class_getitem__(cls, item):  # <-\n    return cls",
}


@pytest.mark.parametrize("method", DUNDER_DEFINITIONS.values(), ids=DUNDER_DEFINITIONS.keys())
def test_defining_a_dangerous_dunder_method_is_rejected(method: str) -> None:
    source = mechanism("x = 1").replace(
        '    name = "probe"\n', '    name = "probe"\n\n' + textwrap.indent(method, "    ") + "\n"
    )
    assert_rejected_at(source, {"dunder"})


# -- case 4: forbidden builtins, called and aliased ---------------------------------------------

FORBIDDEN = [
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
]


@pytest.mark.parametrize("name", FORBIDDEN)
def test_forbidden_builtin_call_is_rejected(name: str) -> None:
    assert_rejected_at(mechanism(f"x = {name}('1')  # <-"), {"forbidden-name"})


@pytest.mark.parametrize("name", FORBIDDEN)
def test_forbidden_builtin_alias_is_rejected(name: str) -> None:
    assert_rejected_at(mechanism(f"alias = {name}  # <-\nalias('1')"), {"forbidden-name"})


ALIASES = {
    "alias-assignment": "e = eval  # <-\nx = e('1+1')",
    "alias-in-list": "x = [eval][0]('1')  # <-",
    "alias-in-dict": "table = {'run': exec}  # <-",
    "passed-as-argument": "x = max(['a'], key=getattr)  # <-",
    "default-argument": "def helper(x, f=eval):  # <-\n    return f(x)",
    "lambda-body": "f = lambda: globals()  # <-",
    "stored-on-self": "self.run = compile  # <-",
    "rebound-name": "eval = print  # <-",
    "tuple-unpacking": "a, b = vars, 1  # <-",
    "conditional": "f = open if ctx else print  # <-",
    "walrus": "x = (f := vars)  # <-",
    "comprehension": "fs = [f for f in (eval, exec)]  # <-",
    "builtins-attribute-of-dataclasses": "import dataclasses\nf = dataclasses.builtins.eval  # <-",
    "typing-sys-modules": "import typing\nm = typing.sys.modules  # <-",
    "random-private-os": "import random\nrandom._os.system('id')  # <-",
    "collections-private-sys": "import collections\nm = collections._sys  # <-",
    "numpy-load-pickle": "import numpy\nx = numpy.load('x.npy', allow_pickle=True)  # <-",
    "torch-load": "import torch\nx = torch.load('x.pt')  # <-",
    "operator-like-attrgetter": "import functools\nf = functools.attrgetter  # <-",
    "module-passed-as-value": "import random\nProbe.propose(random, ctx)  # <-",
    "module-stored-on-self": "import random\nself.mod = random  # <-",
    "private-attribute-off-ctx": "x = ctx.rng._randbelow(3)  # <-",
    "self-rebound": "self = ctx  # <-",
    "self-as-lambda-parameter": "f = lambda self: self._os  # <-",
    "update-wrapper-copies-by-string": (
        "import functools\nfunctools.update_wrapper(self, ctx, assigned=('__dict__',))  # <-"
    ),
    "wraps-copies-by-string": "import functools\nw = functools.wraps(ctx, updated=('__dict__',))  # <-",
    "bare-sys-name": "x = sys.modules  # <-",
    "torch-collect-env-runs-commands": "import torch\ntorch.utils.collect_env.run('id')  # <-",
    "system-exit": "raise SystemExit(0)  # <-",
}


@pytest.mark.parametrize("body", ALIASES.values(), ids=ALIASES.keys())
def test_aliases_and_indirect_reaches_are_rejected(body: str) -> None:
    assert_rejected_at(
        mechanism(body),
        {"forbidden-name", "attribute", "private", "module-value", "self-rebind"},
    )


def test_self_on_a_module_level_helper_is_rejected() -> None:
    source = mechanism("x = 1", "def helper(self):  # <-\n    return self._sys")
    assert_rejected_at(source, {"self-rebind"})


def test_torch_module_eval_method_stays_allowed() -> None:
    # `.eval` as an attribute is ordinary torch (nn.Module.eval()); only the builtin is forbidden.
    assert check_source(mechanism("net = torch.nn.Linear(2, 1)\nnet.eval()", "import torch")).ok


# -- case 5: frame, generator and traceback walks -----------------------------------------------

FRAME_BODIES = {
    "gi-frame": "g = (i for i in [1])\nx = g.gi_frame  # <-",
    "gi-code": "g = (i for i in [1])\nx = g.gi_code  # <-",
    "gi-yieldfrom": "g = (i for i in [1])\nx = g.gi_yieldfrom  # <-",
    "f-globals-chain": "g = (i for i in [1])\nx = g.gi_frame.f_back.f_globals  # <-",
    "f-locals": "x = ctx.frame.f_locals  # <-",
    "f-builtins": "x = ctx.frame.f_builtins  # <-",
    "f-back": "x = ctx.frame.f_back  # <-",
    "tb-frame": "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    x = e.tb.tb_frame  # <-",
    "tb-next": "x = ctx.tb.tb_next  # <-",
    "traceback-dunder": "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    x = e.__traceback__  # <-",
    "cr-frame": "x = ctx.coro.cr_frame  # <-",
    "ag-frame": "x = ctx.agen.ag_frame  # <-",
    "co-code": "x = self.propose.co_code  # <-",
    "func-globals": "x = self.propose.func_globals  # <-",
    "cell-contents": "x = ctx.cell.cell_contents  # <-",
    "sys-getframe": "import random\nx = random._sys._getframe()  # <-",
}


@pytest.mark.parametrize("body", FRAME_BODIES.values(), ids=FRAME_BODIES.keys())
def test_frame_walk_is_rejected(body: str) -> None:
    assert_rejected_at(mechanism(body), {"frame", "dunder", "private", "attribute"})


def test_inspect_import_for_currentframe_is_rejected() -> None:
    assert_rejected_at(mechanism("f = inspect.currentframe()", "import inspect  # <-"), {"import"})


# -- case 6: str.format / string.Formatter traversal --------------------------------------------

FORMAT_BODIES = {
    "literal-attribute-field": "x = '{0.__class__}'.format(ctx)  # <-",
    "literal-attribute-field-no-dunder": "x = '{0.rng}'.format(ctx)  # <-",
    "literal-item-field": "x = '{0[0]}'.format(ctx.history)  # <-",
    "literal-named-attribute-field": "x = '{c.config}'.format(c=ctx)  # <-",
    "nested-spec-field": "x = '{0:{1.__class__}}'.format(1, ctx)  # <-",
    "variable-template": "fmt = ctx.note\nx = fmt.format(ctx)  # <-",
    "str-format-unbound": "x = str.format('{0.__class__}', ctx)  # <-",
    "template-on-self": "x = self.template.format(ctx=ctx)  # <-",
    "format-map": "x = '{a}'.format_map({'a': 1})  # <-",
    "vformat": "x = ctx.fmt.vformat('{0}', [1], {})  # <-",
    "formatter-name": "x = Formatter().format('{0.__class__}', ctx)  # <-",
    "string-formatter-attribute": "x = ctx.string.Formatter()  # <-",
    "broken-template": "x = '{0!'.format(1)  # <-",
}


@pytest.mark.parametrize("body", FORMAT_BODIES.values(), ids=FORMAT_BODIES.keys())
def test_format_traversal_is_rejected(body: str) -> None:
    assert_rejected_at(mechanism(body), {"format", "forbidden-name", "dunder"})


def test_string_module_import_for_formatter_is_rejected() -> None:
    assert_rejected_at(mechanism("x = 1", "from string import Formatter  # <-"), {"import"})
