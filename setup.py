"""Builds the compiled extensions; everything else is in pyproject.toml.

Each has a C++ core in cpp/ beside a thin Cython wrapper: grouping (peaks and part
affinity grouping, pose_tf/grouping/) and the tracker's per-frame work (pair features,
assignment, track update, pose_tf/tracking/). `pip install .` (or `pip install -e .`)
compiles them; no SWIG, no manual step.
"""
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup


def extension(name: str, wrapper: str, core: str) -> Extension:
    """pose_tf.<package>.<name> from <package>/<wrapper>.pyx and <package>/cpp/<core>.cpp."""
    package = name.rsplit(".", 1)[0].replace(".", "/")
    return Extension(
        name,
        sources=[f"{package}/{wrapper}.pyx", f"{package}/cpp/{core}.cpp"],
        include_dirs=[numpy.get_include(), f"{package}/cpp"],
        language="c++",
        extra_compile_args=["-O3", "-std=c++17"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )


extensions = [
    extension("pose_tf.grouping._grouping", "_grouping", "grouping"),
    extension("pose_tf.tracking._pairs", "_pairs", "pairs"),
]

setup(ext_modules=cythonize(extensions, language_level=3))
