"""The DALI graphs: training (PK batches + attention augmentation + BoT augs) and evaluation.

Read top to bottom: source -> decode -> resize -> attention augmentation -> flip ->
pad + crop -> normalize -> erase. The same graph runs on the GPU (`device_id` set: JPEG
decoded by nvJPEG) or on the CPU (`device_id=None`), so CI tests the real thing. The loader
can also stop the graph after the resize and run the augmentation and the tail after the
iterator, on the dense batch (`bot=False`; what the GPU does), and build the mask bank
(`mask_pipeline`).
"""
from __future__ import annotations

import numpy as np
from nvidia.dali import fn, math, types
from nvidia.dali.pipeline import Pipeline

from attention_swap_reid.dali_pipes.output_format import OutputFormat
from attention_swap_reid.dali_pipes.source_workers import SourceWorkers
from attention_swap_reid.dali_pipes.sources import FLOAT_FIELDS, INTEGER_FIELDS, RowLayout


def _resize(images, encoded, size, *, letterbox: bool, nearest: bool):
    """Resize to `size` = (H, W); `letterbox` first pads the image to the aspect ratio of `size`
    by edge replication (the paper's squares), centred, then resizes."""
    height, width = size
    if letterbox:
        images = _pad_to_aspect(images, encoded, height / width)
    interp = types.INTERP_NN if nearest else types.INTERP_LINEAR
    return fn.resize(images, size=(height, width), interp_type=interp, antialias=not nearest)


def _pad_to_aspect(images, encoded, aspect: float):
    """Pad each image to height / width = `aspect` (rounded to whole pixels), centred, by
    replicating its edge pixels: `fn.warp_affine` with a whole-pixel shift, nearest
    interpolation and no fill value clamps the source coordinates, so it copies exactly.

    (A resize window reaching outside the image is no substitute: DALI 2.4's nearest-neighbour
    resize returns wrong pixels there, and reads past the end of the batch's buffer.)"""
    shape = fn.peek_image_shape(encoded, dtype=types.FLOAT)
    h, w = shape[0], shape[1]
    padded_h = math.max(h, math.floor(w * aspect + 0.5))
    padded_w = math.max(w, math.floor(h / aspect + 0.5))
    top, left = math.floor((padded_h - h) / 2), math.floor((padded_w - w) / 2)
    zero = h * 0  # 0-d float like h, -left, -top: fn.stack needs inputs of one type and rank
    one = zero + 1
    to_source = fn.reshape(fn.stack(one, zero, -left, zero, one, -top), shape=[2, 3])  # output (x, y) -> input
    return fn.warp_affine(images, matrix=to_source, size=fn.stack(padded_h, padded_w), interp_type=types.INTERP_NN)


def decode_images(encoded, size, *, gpu: bool, letterbox: bool):
    """Encoded JPEG/PNG -> (H, W, 3) uint8 RGB at `size`; JPEG decodes on the GPU when `gpu`."""
    images = fn.decoders.image(encoded, device="mixed" if gpu else "cpu", output_type=types.RGB)
    return _resize(images, encoded, size, letterbox=letterbox, nearest=False)


def decode_masks(encoded, size, *, gpu: bool, letterbox: bool):
    """Encoded PNG masks -> (H, W, 1) uint8 {0, 1} at `size` (nearest; decoded on the CPU)."""
    masks = fn.decoders.image(encoded, device="cpu", output_type=types.GRAY)
    masks = _resize(masks, encoded, size, letterbox=letterbox, nearest=True)
    masks = fn.cast(masks > 0, dtype=types.UINT8)
    return masks.gpu() if gpu else masks


def flip_and_crop(data, flip, anchor, size):
    """Horizontal flip, then the HxW window at `anchor` (y, x), zero-padded outside the image:
    BoT's pad + random crop in one slice. Images and masks get the same parameters."""
    data = fn.flip(data, horizontal=flip)
    return fn.slice(data, anchor, np.array(size, np.float32), axis_names="HW",
                    normalized_anchor=False, normalized_shape=False,
                    out_of_bounds_policy="pad", fill_values=0)


def normalize(images, output: OutputFormat):
    """uint8 HWC -> float in `output`'s layout (CHW, or HWC for channels_last), mean/std and type."""
    return fn.crop_mirror_normalize(images, dtype=output.dali_dtype, output_layout=output.layout,
                                    mean=list(output.mean), std=list(output.std))


def _cut(rows, start: int, length):
    """Bytes start .. start + length of each row (`length`: a (1,) integer per sample)."""
    return fn.slice(rows, start=np.array([start], np.int32), shape=fn.cast(length, dtype=types.INT32), axes=[0])


def source_inputs(reader, layout: RowLayout, with_masks: bool) -> dict:
    """The fields of the training source's rows (`sources.RowLayout`) in the pipeline being
    defined, by name: "image" and "mask" (the encoded files, "mask" with `with_masks`), then
    `sources.INTEGER_FIELDS` (int64; "flip" int32) and `sources.FLOAT_FIELDS` (float32).
    `reader` (a `TrainSource`, or `SourceWorkers` running one) gives DALI each batch's rows,
    called with its `BatchInfo` on the thread that runs the pipeline; the graph cuts them up."""
    rows = fn.external_source(source=reader, batch=True, batch_info=True)
    integers = fn.reinterpret(rows[: layout.floats_at], dtype=types.INT64, shape=[len(INTEGER_FIELDS)])
    floats = fn.reinterpret(rows[layout.floats_at: layout.image_at], dtype=types.FLOAT,
                            shape=[sum(FLOAT_FIELDS.values())])
    column = {name: k for k, name in enumerate(INTEGER_FIELDS)}
    fields = {name: integers[column[name]] for name in ("pid", "camid", "viewpoint", "label", "index", "position")}
    fields["flip"] = fn.cast(integers[column["flip"]], dtype=types.INT32)
    fields["image"] = _cut(rows, layout.image_at, integers[column["image_length"]: column["image_length"] + 1])
    if with_masks:
        fields["mask"] = _cut(rows, layout.mask_at, integers[column["mask_length"]: column["mask_length"] + 1])
    start = 0
    for name, width in FLOAT_FIELDS.items():
        fields[name] = floats[start: start + width]
        start += width
    return fields


def train_pipeline(source, *, batch_size: int, size: tuple[int, int], augment_op=None,
                   device_id: int | None, num_threads: int, seed: int, letterbox: bool = False,
                   bot: bool = True, return_masks: bool = False, prefetch: int = 2,
                   output: OutputFormat = OutputFormat(), source_workers: int = 1) -> tuple[Pipeline, list[str]]:
    """Build the training pipeline; returns it and the names of its outputs.

    `source` is a `TrainSource`; masks are decoded only when it provides them. It runs in
    `source_workers` processes (`SourceWorkers`: the files are read there), or with 0 on the
    thread that runs the pipeline.
    `augment_op` (an `AugmentOp`) takes the decoded masks, or the sample indices when it
    has a mask bank, and the samples' positions in the epoch.
    With `bot=False` the graph stops after the resize (and the augmentation, if any): it
    outputs uint8 HWC images, the raw masks and the drawn flip / crop / erase parameters for
    `kernels.bot_tail` (and `dali_pipes.torch_augs` for the masks) to apply after the iterator."""
    gpu = device_id is not None
    pipe = Pipeline(batch_size=batch_size, num_threads=num_threads, device_id=device_id, seed=seed,
                    prefetch_queue_depth=prefetch)
    reader = SourceWorkers(source, source_workers) if source_workers else source
    with pipe:
        inputs = source_inputs(reader, source.layout, source.with_masks)
        pids, viewpoints, flip, crop_anchor = inputs["pid"], inputs["viewpoint"], inputs["flip"], inputs["crop_anchor"]
        images = decode_images(inputs["image"], size, gpu=gpu, letterbox=letterbox)
        masks = decode_masks(inputs["mask"], size, gpu=gpu, letterbox=letterbox) if source.with_masks else None
        outputs = dict(labels=inputs["label"], pids=pids, camids=inputs["camid"], viewpoints=viewpoints,
                       indices=inputs["index"], positions=inputs["position"])
        if augment_op is not None:
            masks_or_index = masks if augment_op.bank is None else inputs["index"]
            args = [masks_or_index, pids, viewpoints, inputs["position"]]
            images, outputs["swapped"], outputs["donor_pids"] = fn.python_function(
                images, *([a.gpu() for a in args] if gpu else args), function=augment_op, batch_processing=True,
                num_outputs=3, device="gpu" if gpu else "cpu")
        elif bot:
            outputs["swapped"] = fn.cast(pids * 0, dtype=types.UINT8)
            outputs["donor_pids"] = pids * 0 - 1
        if bot:
            images = normalize(flip_and_crop(images, flip, crop_anchor, size), output)
            outputs["images"] = fn.erase(images, anchor=inputs["erase_anchor"], shape=inputs["erase_shape"],
                                         axis_names="HW", fill_value=list(output.erase_fill))
            if return_masks:
                outputs["masks"] = flip_and_crop(masks, flip, crop_anchor, size)
        else:
            outputs["images"] = images
            if masks is not None:
                outputs["masks"] = masks
            outputs.update(flip=flip, crop_anchor=crop_anchor, erase_anchor=inputs["erase_anchor"],
                           erase_shape=inputs["erase_shape"])
        # GPU mode: every output on the device (DALI copies the small per-batch arrays
        # asynchronously), so the consumer never makes a host-to-device copy of its own
        pipe.set_outputs(*(o.gpu() if gpu and o.device == "cpu" else o for o in outputs.values()))
    return pipe, list(outputs)


def mask_pipeline(source, *, batch_size: int, size: tuple[int, int], num_threads: int,
                  letterbox: bool = False) -> Pipeline:
    """Masks from `sources.mask_batches`, decoded and resized as in training, on the CPU;
    outputs (masks (H, W, 1) uint8 {0, 1}, row index). For `MaskBank.build`."""
    pipe = Pipeline(batch_size=batch_size, num_threads=num_threads, device_id=None, seed=0)
    with pipe:
        encoded, index = fn.external_source(source=source, num_outputs=2, batch=True)  # one pass
        pipe.set_outputs(decode_masks(encoded, size, gpu=False, letterbox=letterbox), index)
    return pipe


def eval_pipeline(source, *, batch_size: int, size: tuple[int, int], device_id: int | None,
                  num_threads: int, letterbox: bool = False, prefetch: int = 2,
                  output: OutputFormat = OutputFormat()) -> tuple[Pipeline, list[str]]:
    """Build the evaluation pipeline (decode, resize, normalize; no randomness); the masks too
    (resized as in training) when the `EvalSource` provides them."""
    gpu = device_id is not None
    pipe = Pipeline(batch_size=batch_size, num_threads=num_threads, device_id=device_id, seed=0,
                    prefetch_queue_depth=prefetch)
    names = ["images", "pids", "camids", "indices"] + (["masks"] if source.with_masks else [])
    with pipe:
        inputs = dict(zip(source.outputs, fn.external_source(
            source=source, num_outputs=len(source.outputs), cycle="raise", batch=True)))
        outputs = [normalize(decode_images(inputs["image"], size, gpu=gpu, letterbox=letterbox), output),
                   inputs["pid"], inputs["camid"], inputs["index"]]
        if source.with_masks:
            outputs.append(decode_masks(inputs["mask"], size, gpu=gpu, letterbox=letterbox))
        pipe.set_outputs(*outputs)
    return pipe, names
