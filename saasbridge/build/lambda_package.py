"""Build the Lambda deployment package (one zip per architecture) from manylinux wheels, without
Docker: pip installs the runtime dependencies for the target platform into a directory, the
project's own packages are copied next to them, what Lambda never uses is stripped, and the
result is zipped and measured against Lambda's 250 MB unzipped limit.

The catalog the functions serve (`catalog`, default `$SAASBRIDGE_CATALOG` or the bundled demo
catalog) is validated first, as the deployed functions will load it, and copied to
`saasbridge_catalog.yaml` at the package root; template.yaml points `SAASBRIDGE_CATALOG` at it.

Layout of `output` (default `build/lambda`):
    <arch>/                    the unzipped package (what Lambda extracts to /var/task)
    saasbridge-<arch>.zip      the deployment zip
    deploy.zip                 the zip template.yaml's CodeUri points at (the last single
                               architecture built; arm64 when both are built)

boto3/botocore are left out by default: the Lambda Python runtime ships them (saving about
25 MB unzipped). Pass `include_boto3=True` to pin the project's own version instead.
"""

from __future__ import annotations

import compileall
import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement

from saasbridge.catalog import Catalog, load_catalog
from saasbridge.errors import CatalogError, SaasBridgeError
from saasbridge.runtime import catalog_path

ARCHITECTURES = {"arm64": "aarch64", "x86_64": "x86_64"}
DEFAULT_PYTHON = "3.12"
# Lambda limit for the unzipped function (with its layers): 250 MB.
UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024
# The Lambda python3.12 runtime is Amazon Linux 2023 (glibc 2.34): every manylinux tag up to 2_34 runs.
GLIBC_MINOR_MAX, GLIBC_MINOR_MIN = 34, 17

PROJECT_PACKAGES = ("saasbridge", "athena_connector", "appflow_connector")
# Local-only parts of the project packages (CLI, local tools, build tools): never on the handlers' import path.
PROJECT_EXCLUDES = ("saasbridge/local", "saasbridge/cli", "saasbridge/build", "saasbridge/__main__.py")
PROJECT_DATA_SUFFIXES = (".py", ".yaml", ".json")
# The bundled demo catalog is the default catalog; the demo server code stays out.
BUNDLED_FILES = ("demo_saas/catalog.yaml",)
# Where the packaged catalog sits in the package (template.yaml: SAASBRIDGE_CATALOG=/var/task/<this>).
PACKAGED_CATALOG = "saasbridge_catalog.yaml"
# The variables template.yaml gives the functions that a catalog may reference as ${VAR}; values
# are stand-ins that pass validation (the real ones are deployment parameters).
LAMBDA_CATALOG_ENV = {"SAASBRIDGE_API_URL": "https://api.example.com", "AWS_REGION": "us-east-1",
                      "AWS_DEFAULT_REGION": "us-east-1"}

LOCAL_ONLY = ("pandas", "duckdb", "fastapi", "starlette", "uvicorn", "moto", "sqlglot", "rich")
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
# Requirements published only as source: built here, accepted only if the wheel is pure Python.
SDIST_ONLY = ("antlr4-python3-runtime",)

# Top-level modules that dependencies install but nothing imports at run time.
UNUSED_TOP_LEVEL = ("custom_connector_example", "custom_connector_tests", "custom_connector_integ_test", "bin")
# pyarrow parts that no kept extension module links to (checked by tests/test_package.py):
# Flight RPC, the S3/GCS/Azure/HDFS filesystems, ORC, Parquet encryption, C++ tests, headers,
# and the link-time copies of libarrow_python (the loader wants only the .so.<major> name).
PYARROW_UNUSED = (
    "include", "src", "tests", "libarrow_flight.so*", "libarrow_python_flight.so*", "_flight.*",
    "flight.py", "libarrow_s3.so*", "_s3fs.*", "_gcsfs.*", "_azurefs.*", "_hdfs.*", "_orc.*",
    "orc.py", "_dataset_orc.*", "libarrow_python_parquet_encryption.so*", "_parquet_encryption.*",
    "_dataset_parquet_encryption.*", "_pyarrow_cpp_tests.*", "libarrow_python.so",
    "libarrow_python.so.*.*",
)
TEST_DIRS = ("tests", "test")
STRIP_SUFFIXES = (".pyi", ".pyx", ".pxd", ".pxi", ".h", ".hpp", ".c", ".cc", ".cpp", ".pyc")


class PackagingError(SaasBridgeError):
    """The deployment package cannot be built (pip failure, size limit, forbidden package)."""


@dataclass(frozen=True)
class BuildResult:
    arch: str
    python: str
    directory: Path
    zip_path: Path
    unzipped_bytes: int
    zipped_bytes: int
    files: int
    top_level: tuple[str, ...]
    catalog: Path | None = None  # the source of the packaged saasbridge_catalog.yaml


Log = Callable[[str], None]


def _print(line: str) -> None:
    print(line, flush=True)


def project_root() -> Path:
    """The source checkout the package is built from (it holds pyproject.toml)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        raise PackagingError(f"no pyproject.toml in {root}; run `saasbridge package` from a source checkout")
    return root


def wheel_cache_dir() -> Path:
    """Downloaded wheels, reused across builds: $SAASBRIDGE_WHEEL_CACHE or ~/.cache/saasbridge/wheels."""
    env = os.environ.get("SAASBRIDGE_WHEEL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "saasbridge" / "wheels"


def runtime_requirements(root: Path | None = None, *, include_boto3: bool = False) -> list[str]:
    """The `[project] dependencies` of pyproject.toml, without the runtime-provided AWS SDK."""
    data = tomllib.loads(((root or project_root()) / "pyproject.toml").read_text())
    requirements = list(data["project"]["dependencies"])
    if not include_boto3:
        requirements = [r for r in requirements if Requirement(r).name.lower() not in RUNTIME_PROVIDED]
    return requirements


def catalog_source(catalog: Path | str | None = None) -> Path:
    """The catalog to package: `catalog`, else `$SAASBRIDGE_CATALOG`, else the bundled demo catalog."""
    return Path(catalog) if catalog else catalog_path()


def validate_catalog(path: Path) -> Catalog:
    """Load `path` the way the deployed functions will: their environment has only the variables
    template.yaml sets, so `${VAR}` without a default must be one of those (a build-time value of
    any other variable would not reach Lambda)."""
    try:
        return load_catalog(path, env=LAMBDA_CATALOG_ENV)
    except CatalogError as exc:
        try:
            load_catalog(path, env={**LAMBDA_CATALOG_ENV, **os.environ})
        except CatalogError:
            raise PackagingError(f"invalid catalog, not packaged: {exc}") from None
        raise PackagingError(
            f"invalid catalog, not packaged: {exc} (it loads here only thanks to this shell's environment; "
            f"the functions get only {', '.join(LAMBDA_CATALOG_ENV)}: give the variable a default)") from None


def platform_tags(arch: str) -> list[str]:
    machine = _machine(arch)
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC_MINOR_MAX, GLIBC_MINOR_MIN - 1, -1)]
    return [*tags, f"manylinux2014_{machine}"]


def _machine(arch: str) -> str:
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        raise PackagingError(f"unknown architecture {arch!r}; use one of: {', '.join(ARCHITECTURES)}") from None


def _check_python(python: str) -> None:
    if not re.fullmatch(r"3\.\d{1,2}", python):
        raise PackagingError(f"--python must look like 3.12, got {python!r}")


def _pip(args: list[str], log: Log, *, show: tuple[str, ...] = ()) -> tuple[int, list[str]]:
    """Run pip; echo the lines that start with `show` (progress), return exit code and output."""
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "pip", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.rstrip()
        lines.append(line)
        if show and line.lstrip().startswith(show):
            log(f"  {line.strip()}")
    return proc.wait(), lines


def _pip_failure(what: str, lines: list[str]) -> PackagingError:
    errors = [line.strip() for line in lines if line.strip().startswith("ERROR")]
    detail = errors[-1] if errors else (lines[-1].strip() if lines else "no output")
    return PackagingError(f"{what}: {detail}")


def _ensure_sdist_wheels(requirements: list[str], cache: Path, log: Log) -> None:
    """Build pure-Python wheels for requirements that PyPI has only as source distributions."""
    for text in requirements:
        req = Requirement(text)
        if req.name.lower() not in SDIST_ONLY:
            continue
        stem = req.name.replace("-", "_")
        if any(req.specifier.contains(w.name.split("-")[1]) for w in cache.glob(f"{stem}-*-none-any.whl")):
            continue
        log(f"  building a wheel for {text} (published as source only)")
        code, lines = _pip(["wheel", "--no-deps", "--wheel-dir", str(cache), text], log)
        if code:
            raise _pip_failure(f"could not build a wheel for {text}", lines)
        if not any(req.specifier.contains(w.name.split("-")[1]) for w in cache.glob(f"{stem}-*-none-any.whl")):
            raise PackagingError(f"{text} did not build as a pure-Python wheel; it cannot be cross-packaged")


@contextlib.contextmanager
def _locked(cache: Path):
    """One build at a time per wheel cache (pip writes downloads in place)."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def install_dependencies(target: Path, arch: str, python: str, requirements: list[str], *,
                         cache: Path, refresh: bool = False, log: Log = _print) -> None:
    """pip-install `requirements` for Lambda's platform into `target`, from the wheel cache when it
    has everything, otherwise downloading into the cache first."""
    with _locked(cache):
        _install_dependencies(target, arch, python, requirements, cache=cache, refresh=refresh, log=log)


def _install_dependencies(target: Path, arch: str, python: str, requirements: list[str], *,
                          cache: Path, refresh: bool, log: Log) -> None:
    _ensure_sdist_wheels(requirements, cache, log)
    platform_args = ["--only-binary=:all:", "--python-version", python, "--implementation", "cp"]
    for tag in platform_tags(arch):
        platform_args += ["--platform", tag]
    install = ["install", "--no-compile", "--no-warn-script-location", "--target", str(target),
               "--no-index", "--find-links", str(cache), *platform_args, *requirements]
    if not refresh:
        code, _ = _pip(install, log)
        if code == 0:
            log(f"  dependencies for {arch} / cp{python} installed from the wheel cache {cache}")
            return
        shutil.rmtree(target, ignore_errors=True)
    log(f"  downloading wheels for {arch} / cp{python} into {cache}")
    code, lines = _pip(["download", "--dest", str(cache), "--find-links", str(cache), *platform_args,
                        *requirements], log, show=("Downloading", "Collecting", "File was already"))
    if code:
        raise _pip_failure(f"could not download wheels for {arch} / cp{python}", lines)
    code, lines = _pip(install, log)
    if code:
        raise _pip_failure(f"could not install wheels for {arch} / cp{python}", lines)


def copy_project(root: Path, target: Path) -> None:
    """Copy the project's own packages (minus the local-only parts) and the bundled catalog."""
    excluded = {root / p for p in PROJECT_EXCLUDES}
    for package in PROJECT_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if not path.is_file() or path.suffix not in PROJECT_DATA_SUFFIXES or "__pycache__" in path.parts:
                continue
            if any(path == e or e in path.parents for e in excluded):
                continue
            dest = target / path.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
    for rel in BUNDLED_FILES:
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, dest)
        init = dest.parent / "__init__.py"
        if not init.exists():  # a package marker only, so importlib.resources finds the file
            init.write_text(f'"""Bundled data of {dest.parent.name} (the server code is not deployed)."""\n')


def strip(target: Path) -> None:
    """Remove what Lambda never loads: tests, caches, stubs, sources, unused pyarrow parts."""
    for name in UNUSED_TOP_LEVEL:
        shutil.rmtree(target / name, ignore_errors=True)
        for extra in target.glob(f"{name}.py"):
            extra.unlink()
    pyarrow = target / "pyarrow"
    if pyarrow.is_dir():
        for pattern in PYARROW_UNUSED:
            for path in pyarrow.glob(pattern):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
    for path in sorted(target.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and (path.name == "__pycache__" or _is_test_package(path)):
            shutil.rmtree(path)
        elif path.is_file() and path.suffix in STRIP_SUFFIXES:
            path.unlink()


def _is_test_package(path: Path) -> bool:
    """A `tests`/`test` directory inside a package: a library's own test suite."""
    return path.name in TEST_DIRS and (path.parent / "__init__.py").exists()


def check_contents(target: Path, *, include_boto3: bool) -> tuple[str, ...]:
    """The package's top-level names; fails if a local-only package (or an unwanted boto3) got in."""
    top = tuple(sorted(p.name for p in target.iterdir() if not p.name.endswith(".dist-info")))
    forbidden = set(LOCAL_ONLY) | (set() if include_boto3 else set(RUNTIME_PROVIDED))
    found = sorted(forbidden & {name.removesuffix(".py") for name in top})
    if found:
        raise PackagingError(f"the Lambda package would contain {', '.join(found)}; "
                             "remove it from [project] dependencies (local-only packages go in extras)")
    return top


def tree_size(target: Path) -> tuple[int, int]:
    files = [p for p in target.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def write_zip(target: Path, zip_path: Path) -> int:
    """Zip `target` reproducibly (sorted names, fixed timestamps); returns the zip's size."""
    tmp = zip_path.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in sorted(p for p in target.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(target).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with path.open("rb") as src, zf.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    tmp.replace(zip_path)
    return zip_path.stat().st_size


def build(arch: str, *, python: str = DEFAULT_PYTHON, output: Path | str = "build/lambda",
          include_boto3: bool = False, cache: Path | None = None, refresh: bool = False,
          catalog: Path | str | None = None, log: Log = _print) -> BuildResult:
    """Build the deployment package for one architecture; see the module docstring for the layout."""
    _machine(arch)
    _check_python(python)
    source = catalog_source(catalog)
    served = validate_catalog(source)
    root = project_root()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    staging = output / f".{arch}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    log(f"building the {arch} package for Python {python}")
    try:
        install_dependencies(staging, arch, python, runtime_requirements(root, include_boto3=include_boto3),
                             cache=cache or wheel_cache_dir(), refresh=refresh, log=log)
        copy_project(root, staging)
        shutil.copyfile(source, staging / PACKAGED_CATALOG)
        log(f"  catalog {source} (schema {served.name!r}, {len(served.entities)} entities: "
            f"{', '.join(e.name for e in served.entities)}) -> {PACKAGED_CATALOG}")
        strip(staging)
        top = check_contents(staging, include_boto3=include_boto3)
        unzipped, files = tree_size(staging)
        if unzipped > UNZIPPED_LIMIT_BYTES:
            raise PackagingError(f"the {arch} package is {_mb(unzipped)} unzipped, over Lambda's "
                                 f"{_mb(UNZIPPED_LIMIT_BYTES)} limit; drop dependencies from [project] dependencies")
        if python == f"{sys.version_info.major}.{sys.version_info.minor}":
            # /var/task is read-only, so Lambda cannot cache bytecode itself; ship it when we can make it.
            compileall.compile_dir(staging, quiet=1, workers=1,
                                   invalidation_mode=compileall.py_compile.PycInvalidationMode.UNCHECKED_HASH)
            unzipped, files = tree_size(staging)
        directory = output / arch
        shutil.rmtree(directory, ignore_errors=True)
        staging.replace(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    zip_path = output / f"saasbridge-{arch}.zip"
    zipped = write_zip(directory, zip_path)
    log(f"  {arch}: {files} files, {_mb(unzipped)} unzipped (limit {_mb(UNZIPPED_LIMIT_BYTES)}), "
        f"{_mb(zipped)} zipped -> {zip_path}")
    return BuildResult(arch, python, directory, zip_path, unzipped, zipped, files, top, source)


def build_all(arches: Iterable[str], *, output: Path | str = "build/lambda", log: Log = _print,
              **options) -> list[BuildResult]:
    """Build each architecture, then point `deploy.zip` at the one template.yaml deploys."""
    arches = list(dict.fromkeys(arches))
    results = [build(arch, output=output, log=log, **options) for arch in arches]
    chosen = next((r for r in results if r.arch == "arm64"), results[-1]) if len(results) > 1 else results[0]
    deploy = Path(output) / "deploy.zip"
    deploy.unlink(missing_ok=True)
    try:
        os.link(chosen.zip_path, deploy)
    except OSError:
        shutil.copy2(chosen.zip_path, deploy)
    log(f"{deploy} is the {chosen.arch} package: deploy with `sam deploy --guided` "
        f"(Architectures={chosen.arch})")
    served = validate_catalog(chosen.catalog) if chosen.catalog else None
    if served is not None:
        log(f"then query it in Athena: SELECT * FROM \"<AthenaCatalogName>\".\"{served.name}\"."
            f"\"{served.entities[0].name}\" LIMIT 10")
    return results


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"
