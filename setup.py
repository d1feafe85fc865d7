"""Builds the compiled grouping extension; everything else is in pyproject.toml.

The C++ core lives in pose_tf/grouping/cpp/, the thin Cython wrapper beside it.
`pip install .` (or `pip install -e .`) compiles it; no SWIG, no manual step.
"""
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        "pose_tf.grouping._grouping",
        sources=["pose_tf/grouping/_grouping.pyx", "pose_tf/grouping/cpp/grouping.cpp"],
        include_dirs=[numpy.get_include(), "pose_tf/grouping/cpp"],
        language="c++",
        extra_compile_args=["-O3", "-std=c++17"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
]

setup(ext_modules=cythonize(extensions, language_level=3))
