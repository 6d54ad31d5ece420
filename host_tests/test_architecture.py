"""Layering rules read from the source with `ast` (CPython only: MicroPython has no ast).

- No import cycle between the repo's own modules of lib/, firmware/ and boards/. Imports at
  every level count (function-local ones too: the firmware imports most modules lazily, and a
  lazy import still ties the two modules together). `__import__("boards." + name)` is a call,
  not an import statement, and is not followed.
- Only boards/ and the firmware entry (firmware/main.py, firmware/app.py) import `machine`
  (docs/architecture.md, "Who owns what").
- The App's attributes are assigned only by the App's own modules (app.py, app_init.py,
  app_change.py, link_events.py; startup.py builds it): config changes and commands go
  through its methods (docs/architecture.md §5).
"""

import ast
import os

import mp_env


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# firmware/ and the lib/ folders are on the module path as they are (bare names, unique across
# them all: boards/catalog.py MODULE_FOLDERS); boards/ is a package.
FLAT_FOLDERS = mp_env.catalog().MODULE_FOLDERS
PACKAGES = ("boards",)
MACHINE_ALLOWED = {"firmware/main.py", "firmware/app.py"}


def _python_files(folder):
    path = os.path.join(REPO, folder)
    return sorted(name for name in os.listdir(path) if name.endswith(".py"))


def repo_modules():
    """{module name as imported: repo-relative path} for lib/, firmware/ and boards/."""
    modules = {}
    for folder in FLAT_FOLDERS:
        for name in _python_files(folder):
            module = name[:-3]
            assert module not in modules, "module %s exists twice (%s and %s/%s)" % (
                module, modules.get(module), folder, name)
            modules[module] = folder + "/" + name
    for package in PACKAGES:
        for name in _python_files(package):
            module = package if name == "__init__.py" else package + "." + name[:-3]
            modules[module] = package + "/" + name
    return modules


def imported_names(path):
    """Every module name an import statement anywhere in the repo file names, with its line."""
    with open(os.path.join(REPO, path)) as f:
        source = f.read()
    folder = path.split("/")[0]
    return names_in_source(source, path, folder if folder in PACKAGES else "")


def names_in_source(source, filename="<source>", package=""):
    """(module name, line) for every import statement in `source`, at any depth.

    `import a.b` names a.b (and the package a); `from a import b` names a, and a.b as well
    (b may be a submodule); relative imports are resolved against `package`."""
    tree = ast.parse(source, filename)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                for k in range(1, len(parts) + 1):
                    names.append((".".join(parts[:k]), node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = package + ("." + base if base else "")
            if base:
                names.append((base, node.lineno))
            for alias in node.names:
                names.append(((base + "." if base else "") + alias.name, node.lineno))
    return names


def import_graph():
    """{module: {imported repo module: first line}} over the repo's own modules."""
    modules = repo_modules()
    graph = {}
    for module, path in modules.items():
        edges = {}
        for name, line in imported_names(path):
            if name in modules and name != module and name not in edges:
                edges[name] = line
        graph[module] = edges
    return graph, modules


def find_cycles(graph):
    """Per strongly connected component of more than one module (Tarjan): one shortest
    cycle through its smallest member, as [a, b, ..., a] along import edges, and the
    component's members; sorted, for stable messages."""
    index = {}
    low = {}
    stack = []
    on_stack = set()
    components = []
    counter = [0]

    def connect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(set(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)

    cycles = []
    for component in components:
        # A shortest way back to the smallest member through the component (breadth first).
        start = min(component)
        parents = {start: None}
        queue = [start]
        closing = None
        while queue and closing is None:
            v = queue.pop(0)
            for w in sorted(graph[v]):
                if w not in component:
                    continue
                if w == start:
                    closing = v
                    break
                if w not in parents:
                    parents[w] = v
                    queue.append(w)
        path = []
        v = closing
        while v is not None:
            path.append(v)
            v = parents[v]
        path.reverse()  # start, ..., closing
        cycles.append((path + [start], sorted(component)))
    return sorted(cycles)


def describe(found, graph, modules):
    """The cycle, then every import between members of its component (all need breaking)."""
    cycle, members = found
    steps = []
    for a in members:
        for b in sorted(graph[a]):
            if b in members:
                steps.append("  %s imports %s (line %d)" % (modules[a], b, graph[a][b]))
    return " -> ".join(cycle) + "\n" + "\n".join(steps)


def test_cycle_finder_names_a_cycle_and_ignores_a_chain():
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}, "e": {}}
    assert find_cycles(graph) == [(["a", "b", "c", "a"], ["a", "b", "c"])]
    assert find_cycles({"a": {"b": 1}, "b": {}, "c": {"a": 2}}) == []
    two = {"a": {"b": 1, "c": 2}, "b": {"a": 3}, "c": {"a": 4}}
    assert find_cycles(two) == [(["a", "b", "a"], ["a", "b", "c"])]
    message = describe(find_cycles(two)[0], two, {"a": "lib/a.py", "b": "lib/b.py",
                                                  "c": "lib/c.py"})
    assert "lib/c.py imports a (line 4)" in message


def test_import_names_found_at_every_depth():
    source = (
        "import gc\n"
        "from boards import hardware\n"
        "def build():\n"
        "    if True:\n"
        "        from han_source import HanSource\n"
        "    import umqtt.simple\n"
        "    board = __import__('boards.' + 'sim')\n"
        "class A:\n"
        "    def m(self):\n"
        "        from . import wifi\n"
    )
    names = sorted(name for name, _line in names_in_source(source, package="boards"))
    assert names == ["boards", "boards", "boards.hardware", "boards.wifi", "gc", "han_source",
                     "han_source.HanSource", "umqtt", "umqtt.simple"]
    assert ("han_source", 5) in names_in_source(source)


def test_import_graph_covers_every_module():
    graph, modules = import_graph()
    for folder in FLAT_FOLDERS:
        for name in _python_files(folder):
            assert name[:-3] in graph
    assert "boards.hardware" in graph["boards.esp32_6ch"]
    assert "machine" not in graph["boards.hardware"]  # not a repo module: no node, no edge


def test_no_import_cycles():
    graph, modules = import_graph()
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(
        describe(found, graph, modules) for found in cycles)


def test_only_boards_and_the_firmware_entry_import_machine():
    offenders = []
    for folder in FLAT_FOLDERS + ("tools",):
        for name in _python_files(folder):
            path = folder + "/" + name
            if path in MACHINE_ALLOWED:
                continue
            for module, line in imported_names(path):
                if module == "machine" or module.startswith("machine."):
                    offenders.append("%s:%d" % (path, line))
    assert not offenders, "modules outside boards/ importing machine: " + ", ".join(offenders)


def test_every_lib_module_is_in_a_listed_subsystem_folder_under_a_unique_name():
    """lib/ holds folders only, each listed in MODULE_FOLDERS (else the sim, deploy and the
    tests would not find its modules), and no two folders hold the same module name (deploy
    flattens them into one /lib, where one would overwrite the other)."""
    lib = os.path.join(REPO, "lib")
    listed = set(mp_env.catalog().MODULE_FOLDERS)
    seen = {}
    for entry in sorted(os.listdir(lib)):
        path = os.path.join(lib, entry)
        if entry.startswith((".", "__pycache__")):
            continue
        assert os.path.isdir(path), "lib/%s: lib/ holds subsystem folders only" % entry
        assert "lib/" + entry in listed, "lib/%s is not in MODULE_FOLDERS" % entry
        for name in _python_files("lib/" + entry):
            assert name not in seen, "%s is in lib/%s and lib/%s" % (name, seen.get(name), entry)
            seen[name] = entry
    assert len(seen) > 40  # the walk found the modules


def test_lib_never_imports_the_firmware():
    """lib/ is the portable layer under firmware/: a lib module that imported a firmware one
    (storage, log sinks, the App) would tie the libraries to the board's files and make the
    mip package and the host tools drag the firmware in."""
    firmware = {name[:-3] for name in _python_files("firmware")}
    offenders = []
    for folder in FLAT_FOLDERS:
        if not folder.startswith("lib/"):
            continue
        for name in _python_files(folder):
            path = folder + "/" + name
            for module, line in imported_names(path):
                if module in firmware:
                    offenders.append("%s imports %s (line %d)" % (path, module, line))
    assert not offenders, "\n".join(offenders)


# The App's own modules: app.py (as self), its set-up, its change and link-event code. Elsewhere
# only the signature check's own state may be kept on the App.
APP_OWN = {"firmware/app.py", "firmware/app_init.py", "firmware/app_change.py",
           "firmware/link_events.py", "firmware/startup.py"}
APP_ATTRIBUTES_ALLOWED = {"firmware/config_change.py": {"replay_guard"}}


def app_attributes_assigned(path):
    """[(attribute, line)] for each `app.<attribute> = ...` (or +=, or a tuple target) in the
    file at the repo-relative `path`."""
    with open(os.path.join(REPO, path)) as f:
        tree = ast.parse(f.read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        else:
            continue
        while targets:
            target = targets.pop()
            if isinstance(target, (ast.Tuple, ast.List)):
                targets.extend(target.elts)
            elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                    and target.value.id == "app":
                found.append((target.attr, target.lineno))
    return found


def test_app_attributes_are_assigned_only_by_the_apps_own_modules():
    offenders = []
    for folder in FLAT_FOLDERS + PACKAGES:
        for root, _, names in os.walk(os.path.join(REPO, folder)):
            for name in sorted(names):
                if not name.endswith(".py"):
                    continue
                path = os.path.relpath(os.path.join(root, name), REPO).replace(os.sep, "/")
                if path in APP_OWN:
                    continue
                allowed = APP_ATTRIBUTES_ALLOWED.get(path, ())
                offenders += ["%s:%d app.%s" % (path, line, attribute)
                              for attribute, line in app_attributes_assigned(path)
                              if attribute not in allowed]
    assert not offenders, "App attributes set outside the App's methods: " + ", ".join(
        offenders)


def test_app_attribute_finder_sees_every_form_of_assignment(tmp_path):
    source = "app.a = 1\napp.b += 1\napp.c, x = 1, 2\nother.d = 1\napp.e.f = 1\n"
    path = tmp_path / "sample.py"
    path.write_text(source)
    assert [a for a, _ in app_attributes_assigned(str(path))] == ["a", "b", "c"]
