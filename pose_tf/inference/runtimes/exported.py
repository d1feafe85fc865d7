"""Backends for the artefacts `pose-tf export` writes: SavedModel, TFLite, ONNX, TensorRT.

Each reads the export's description (pose_tf.inference.artefact) for its layout, so
`--model x.tflite` needs no `--layout`, and takes the same float32 RGB 0..255 batch as
every backend; uint8/int8 tensors are (de)quantised here. CPU runtimes use
NUM_THREADS threads (2 by default, POSE_TF_NUM_THREADS to change).
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np

from ...core.errors import PoseTfError
from .. import artefact
from . import Network, PerThread, Serialized, register_backend, resolve_layout

NUM_THREADS = int(os.environ.get("POSE_TF_NUM_THREADS", "2"))


def threads_per_worker(workers: int) -> int:
    """The cores split between `workers` concurrent calls: on 2 cores two single-threaded
    runs side by side beat two 2-thread runs fighting over them (bench/video.py)."""
    return max(1, NUM_THREADS // max(1, workers))


def _layout_of(path, layout: Optional[str]):
    """The export's own layout (an explicit --layout must agree), and its description."""
    info = artefact.read_info(path)
    return resolve_layout(artefact.pick_layout(info, layout, path), "coco17"), info


def _take_geometry(network: Network, info) -> None:
    """Stride, padding value and input multiple from the export's description."""
    if info is not None:
        network.stride = int(info.stride)
        network.pad_value = float(info.pad_value)
        network.input_multiple = int(info.input_multiple)


class SavedModelNetwork(Network):
    """A pose-tf SavedModel (or a TF-TRT one made from it): runs its 'maps' signature."""

    def __init__(self, path, layout=None):
        import tensorflow as tf

        self.path = path
        self.layout, info = _layout_of(path, layout)
        _take_geometry(self, info)
        try:
            self._loaded = tf.saved_model.load(path)
        except Exception as exc:
            raise PoseTfError(f"{path}: cannot load SavedModel ({type(exc).__name__})") from None
        if "maps" not in self._loaded.signatures:
            raise PoseTfError(f"{path}: SavedModel has no 'maps' signature (not written by pose-tf export)")
        self._maps = self._loaded.signatures["maps"]
        self._tf = tf

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = self._tf.constant(np.ascontiguousarray(batch, np.float32))
        return self._maps(images=x)["maps"].numpy()


def _tflite_interpreter(path, threads: int = NUM_THREADS):
    """LiteRT's interpreter (the maintained one); TensorFlow's deprecated copy as fallback."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import warnings

        import tensorflow as tf

        fallback = getattr(getattr(tf, "lite", None), "Interpreter", None)
        if fallback is None:
            raise PoseTfError("ai-edge-litert is not installed (this TensorFlow has no TFLite "
                              "interpreter of its own): pip install 'pose-tf[tflite]'") from None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fallback(model_path=path, num_threads=threads)
    return Interpreter(model_path=path, num_threads=threads)


class TFLiteNetwork(Network):
    runs_in_tensorflow = False

    def __init__(self, path, layout=None, threads: int = NUM_THREADS):
        self.path = path
        self.layout, info = _layout_of(path, layout)
        _take_geometry(self, info)
        try:
            self._interpreter = _tflite_interpreter(path, threads)
        except ValueError as exc:
            raise PoseTfError(f"{path}: not a TFLite model ({str(exc).splitlines()[0][:200]})") from None
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        shape = self._input["shape"]
        self.fixed_input = (int(shape[1]), int(shape[2]))
        self._batch = None

    def _resize(self, batch_size: int) -> None:
        if batch_size != self._batch:
            shape = [batch_size, *self.fixed_input, 3]
            self._interpreter.resize_tensor_input(self._input["index"], shape)
            self._interpreter.allocate_tensors()
            self._batch = batch_size

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if tuple(batch.shape[1:3]) != self.fixed_input:
            raise PoseTfError(f"{self.path}: takes {self.fixed_input[0]}x{self.fixed_input[1]} "
                              f"images, got {batch.shape[1]}x{batch.shape[2]}")
        self._resize(batch.shape[0])
        self._interpreter.set_tensor(self._input["index"], _quantize(batch, self._input))
        self._interpreter.invoke()
        return _dequantize(self._interpreter.get_tensor(self._output["index"]), self._output)

    def for_workers(self, workers: int) -> Network:
        """An interpreter per worker thread (one interpreter holds one input tensor)."""
        if workers <= 1:
            return self
        threads = threads_per_worker(workers)
        return PerThread(self, lambda: TFLiteNetwork(self.path, self.layout.name, threads))


def _quantize(batch: np.ndarray, detail) -> np.ndarray:
    dtype = detail["dtype"]
    if dtype == np.float32:
        return np.ascontiguousarray(batch, np.float32)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(batch / scale + zero), info.min, info.max).astype(dtype)


def _dequantize(values: np.ndarray, detail) -> np.ndarray:
    if values.dtype == np.float32:
        return values.copy()          # the interpreter reuses its buffer on the next call
    scale, zero = detail["quantization"]
    return (values.astype(np.float32) - zero) * np.float32(scale)


class OnnxNetwork(Network):
    runs_in_tensorflow = False

    def __init__(self, path, layout=None, threads: int = NUM_THREADS, spinning: bool = True):
        try:
            import onnxruntime as ort
        except ImportError:
            raise PoseTfError("onnxruntime is not installed (it runs .onnx models): "
                              "pip install 'pose-tf[onnx]'") from None
        self.path = path
        self.layout, info = _layout_of(path, layout)
        _take_geometry(self, info)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        if not spinning:    # idle pool threads sleep instead of taking a core from the others
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                     if p in ort.get_available_providers()]
        try:
            self._session = ort.InferenceSession(path, options, providers=providers)
        except Exception as exc:
            raise PoseTfError(f"{path}: onnxruntime cannot load it ({str(exc).splitlines()[0][:200]})") from None
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        height, width = model_input.shape[1:3]
        if isinstance(height, int) and isinstance(width, int):
            self.fixed_input = (height, width)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        (maps,) = self._session.run(None, {self._input_name: np.ascontiguousarray(batch, np.float32)})[:1]
        return maps

    def for_workers(self, workers: int) -> Network:
        """A session splitting the cores between the workers (a session's run may be
        called from several threads at once)."""
        if workers <= 1:
            return self
        return OnnxNetwork(self.path, self.layout.name, threads_per_worker(workers), spinning=False)


class TensorRTNetwork(Network):
    """A serialized TensorRT engine from `pose-tf export --format tensorrt` (needs a GPU)."""
    runs_in_tensorflow = False

    def __init__(self, path, layout=None):
        from .tensorrt_support import check, require_tensorrt

        trt, self._cudart = require_tensorrt()
        self._check = check
        self.path = path
        self.layout, info = _layout_of(path, layout)
        _take_geometry(self, info)
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        with open(path, "rb") as f:
            self._engine = runtime.deserialize_cuda_engine(f.read())
        if self._engine is None:
            raise PoseTfError(f"{path}: TensorRT cannot load this engine (built for another "
                              f"TensorRT version or GPU? re-export it on this machine)")
        self._context = self._engine.create_execution_context()
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        inputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self._input, self._output = inputs[0], [n for n in names if n not in inputs][0]
        shape = self._engine.get_tensor_shape(self._input)
        self.fixed_input = (int(shape[1]), int(shape[2]))
        self._stream = check(self._cudart.cudaStreamCreate())
        self._buffers = {}

    def _device_buffer(self, name: str, nbytes: int):
        held = self._buffers.get(name)
        if held is None or held[1] < nbytes:
            if held is not None:
                self._check(self._cudart.cudaFree(held[0]))
            held = (self._check(self._cudart.cudaMalloc(nbytes)), nbytes)
            self._buffers[name] = held
        return held[0]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        cudart, check = self._cudart, self._check
        batch = np.ascontiguousarray(batch, np.float32)
        self._context.set_input_shape(self._input, batch.shape)
        maps = np.empty(tuple(self._context.get_tensor_shape(self._output)), np.float32)
        d_in = self._device_buffer(self._input, batch.nbytes)
        d_out = self._device_buffer(self._output, maps.nbytes)
        to_device = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        to_host = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        check(cudart.cudaMemcpyAsync(d_in, batch.ctypes.data, batch.nbytes, to_device, self._stream))
        self._context.set_tensor_address(self._input, int(d_in))
        self._context.set_tensor_address(self._output, int(d_out))
        if not self._context.execute_async_v3(self._stream):
            raise PoseTfError(f"{self.path}: TensorRT inference failed")
        check(cudart.cudaMemcpyAsync(maps.ctypes.data, d_out, maps.nbytes, to_host, self._stream))
        check(cudart.cudaStreamSynchronize(self._stream))
        return maps

    def for_workers(self, workers: int) -> Network:
        """One execution context, one stream and its buffers: calls take turns."""
        return self if workers <= 1 else Serialized(self)


def _is_saved_model(path: str) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb"))


def _saved_model_factory(path, layout):
    if path.endswith("saved_model.pb"):
        path = os.path.dirname(path) or "."
    return SavedModelNetwork(path, layout)


register_backend(lambda p: _is_saved_model(p) or p.endswith("saved_model.pb"), _saved_model_factory)
register_backend(lambda p: p.endswith(".tflite"), lambda p, layout: TFLiteNetwork(p, layout))
register_backend(lambda p: p.endswith(".onnx"), lambda p, layout: OnnxNetwork(p, layout))
register_backend(lambda p: p.endswith((".engine", ".plan")), lambda p, layout: TensorRTNetwork(p, layout))
