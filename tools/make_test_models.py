#!/usr/bin/env python3
"""Builds the small ONNX graphs whose outputs are known, for testing Voxmark's model families end to end.

    python3 tools/make_test_models.py OUT_DIR

writes, with a manifest (TOML) next to each graph:

- seg2d.onnx      segmentation, 2D, input `image` 1x1x64x64 (intensity mapped to [0, 1] by the manifest),
                  output `logits` 1x3x64x64: background 0, "soft" min(x - 0.25, 0.6 - x), "dense" x - 0.6.
                  So the arg-max is: dense where x > 0.6, soft where 0.25 < x < 0.6, else background.
- seg3d.onnx      segmentation, 3D, input `image` 1x1x16x32x32 (NCDHW), output `logits` 1x2x16x32x32:
                  background 0, "bright" x - 0.5.
- heatmap.onnx    grounding-heatmap: `image` 1x1x32x32, `input_ids` 1x8 (int64), `attention_mask` 1x8 (int64)
                  -> `heatmap` 1x32x32 = mean over the phrase's tokens of a fixed 32x32 map per word
                  (`left`: columns 16-31, `right`: columns 0-15, `upper`: rows 0-15, `lower`: rows 16-31,
                  other words: zeros) times the image's maximum (so a blank image gives a zero map).
- boxes.onnx      grounding-box: the same inputs -> `boxes` 1x8x4 (x0, y0, x1, y1 normalised to the model
                  input) and `scores` 1x8: one fixed box and score per token (table BOXES below) times the
                  attention mask times the image's maximum.
- box_encoder.onnx + box_decoder.onnx
                  promptable (SAM-style): the encoder passes the 1x3x64x64 image through as the embedding;
                  the decoder takes it and `boxes` 1x4 (x0, y0, x1, y1 in the 64 frame) and gives
                  `low_res_masks` 1x1x64x64 = +1 on the pixels whose indices lie in the box, -1 elsewhere,
                  and `iou_predictions` 1x1 = 0.75.
- tokenizer.json  a WordLevel tokenizer (lower-cased, whitespace/punctuation split) over VOCAB.

Every graph is checked here through onnxruntime on a small input against the formula above. The tests in
tests/inference.rs state the same expectations independently and run the graphs through Voxmark.
"""

import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
VOCAB = ["[PAD]", "[UNK]", "left", "right", "upper", "lower", "pleural", "effusion", "opacity", "small"]
TOKENS = 8
HEAT = 32
# Per word: (x0, y0, x1, y1) normalised to the model input, and a score.
BOXES = {
    "left": ((0.5, 0.25, 0.9, 0.75), 0.9),
    "lower": ((0.52, 0.3, 0.9, 0.75), 0.8),  # IoU 0.855 with `left`: removed by NMS at 0.5
    "effusion": ((0.1, 0.6, 0.4, 0.95), 0.7),
    "right": ((0.1, 0.25, 0.5, 0.75), 0.3),  # below the manifest's score threshold 0.5
}


def graph_model(nodes, inputs, outputs, inits, name):
    g = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="voxmark-tests")
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def const(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def seg2d():
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 64, 64])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3, 64, 64])
    inits = [const("c025", np.float32([0.25])), const("c06", np.float32([0.6])), const("zero", np.float32([0.0]))]
    nodes = [
        helper.make_node("Mul", ["image", "zero"], ["l0"]),
        helper.make_node("Sub", ["image", "c025"], ["a"]),
        helper.make_node("Sub", ["c06", "image"], ["b"]),
        helper.make_node("Min", ["a", "b"], ["l1"]),
        helper.make_node("Sub", ["image", "c06"], ["l2"]),
        helper.make_node("Concat", ["l0", "l1", "l2"], ["logits"], axis=1),
    ]
    return graph_model(nodes, [x], [y], inits, "seg2d")


def seg3d():
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 16, 32, 32])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2, 16, 32, 32])
    inits = [const("c05", np.float32([0.5])), const("zero", np.float32([0.0]))]
    nodes = [
        helper.make_node("Mul", ["image", "zero"], ["l0"]),
        helper.make_node("Sub", ["image", "c05"], ["l1"]),
        helper.make_node("Concat", ["l0", "l1"], ["logits"], axis=1),
    ]
    return graph_model(nodes, [x], [y], inits, "seg3d")


def heat_table():
    t = np.zeros((len(VOCAB), HEAT, HEAT), np.float32)
    t[VOCAB.index("left"), :, HEAT // 2 :] = 1.0
    t[VOCAB.index("right"), :, : HEAT // 2] = 1.0
    t[VOCAB.index("upper"), : HEAT // 2, :] = 1.0
    t[VOCAB.index("lower"), HEAT // 2 :, :] = 1.0
    return t


def text_inputs():
    return [
        helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, HEAT, HEAT]),
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, TOKENS]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [1, TOKENS]),
    ]


def heatmap():
    y = helper.make_tensor_value_info("heatmap", TensorProto.FLOAT, [1, HEAT, HEAT])
    inits = [
        const("table", heat_table()),
        const("axes1", np.int64([1])),
        const("axes23", np.int64([2, 3])),
        const("one", np.float32([1.0])),
    ]
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["maps"], axis=0),  # 1x8x32x32
        helper.make_node("Cast", ["attention_mask"], ["m"], to=TensorProto.FLOAT),  # 1x8
        helper.make_node("Unsqueeze", ["m", "axes23"], ["m4"]),  # 1x8x1x1
        helper.make_node("Mul", ["maps", "m4"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axes1"], ["sum"], keepdims=0),  # 1x32x32
        helper.make_node("ReduceSum", ["m4", "axes1"], ["count0"], keepdims=0),  # 1x1x1
        helper.make_node("Max", ["count0", "one"], ["count"]),
        helper.make_node("Div", ["sum", "count"], ["mean"]),
        helper.make_node("ReduceMax", ["image"], ["peak"], keepdims=0),  # scalar
        helper.make_node("Mul", ["mean", "peak"], ["heatmap"]),
    ]
    return graph_model(nodes, text_inputs(), [y], inits, "heatmap")


def box_tables():
    boxes = np.zeros((len(VOCAB), 4), np.float32)
    scores = np.zeros((len(VOCAB),), np.float32)
    for word, (b, s) in BOXES.items():
        boxes[VOCAB.index(word)] = b
        scores[VOCAB.index(word)] = s
    return boxes, scores


def boxes():
    b_out = helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, TOKENS, 4])
    s_out = helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, TOKENS])
    table, score_table = box_tables()
    inits = [const("box_table", table), const("score_table", score_table)]
    nodes = [
        helper.make_node("Gather", ["box_table", "input_ids"], ["boxes"], axis=0),
        helper.make_node("Gather", ["score_table", "input_ids"], ["s0"], axis=0),
        helper.make_node("Cast", ["attention_mask"], ["m"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["s0", "m"], ["s1"]),
        helper.make_node("ReduceMax", ["image"], ["peak"], keepdims=0),
        helper.make_node("Mul", ["s1", "peak"], ["scores"]),
    ]
    return graph_model(nodes, text_inputs(), [b_out, s_out], inits, "boxes")


def box_encoder():
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 64, 64])
    y = helper.make_tensor_value_info("image_embeddings", TensorProto.FLOAT, [1, 3, 64, 64])
    return graph_model([helper.make_node("Identity", ["image"], ["image_embeddings"])], [x], [y], [], "box_encoder")


def box_decoder():
    emb = helper.make_tensor_value_info("image_embeddings", TensorProto.FLOAT, [1, 3, 64, 64])
    box = helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 4])
    masks = helper.make_tensor_value_info("low_res_masks", TensorProto.FLOAT, [1, 1, 64, 64])
    iou = helper.make_tensor_value_info("iou_predictions", TensorProto.FLOAT, [1, 1])
    inits = [
        const("xs", np.arange(64, dtype=np.float32).reshape(1, 1, 1, 64)),
        const("ys", np.arange(64, dtype=np.float32).reshape(1, 1, 64, 1)),
        const("two", np.float32([2.0])),
        const("one", np.float32([1.0])),
        const("zero", np.float32([0.0])),
        const("iou", np.float32([[0.75]])),
    ] + [const(f"i{i}", np.int64(i)) for i in range(4)]
    nodes = [helper.make_node("Gather", ["boxes", f"i{i}"], [f"b{i}"], axis=1) for i in range(4)] + [
        helper.make_node("GreaterOrEqual", ["xs", "b0"], ["gx"]),
        helper.make_node("LessOrEqual", ["xs", "b2"], ["lx"]),
        helper.make_node("GreaterOrEqual", ["ys", "b1"], ["gy"]),
        helper.make_node("LessOrEqual", ["ys", "b3"], ["ly"]),
        helper.make_node("And", ["gx", "lx"], ["inx"]),
        helper.make_node("And", ["gy", "ly"], ["iny"]),
        helper.make_node("And", ["inx", "iny"], ["inside"]),
        helper.make_node("Cast", ["inside"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["f", "two"], ["f2"]),
        helper.make_node("Sub", ["f2", "one"], ["l0"]),
        # The embedding is an input the decoder uses (times zero), as real decoders do.
        helper.make_node("ReduceMax", ["image_embeddings"], ["peak"], keepdims=0),
        helper.make_node("Mul", ["peak", "zero"], ["nothing"]),
        helper.make_node("Add", ["l0", "nothing"], ["low_res_masks"]),
        helper.make_node("Identity", ["iou"], ["iou_predictions"]),
    ]
    return graph_model(nodes, [emb, box], [masks, iou], inits, "box_decoder")


def tokenizer():
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for i, t in enumerate(VOCAB[:2])
        ],
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": None,
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": {t: i for i, t in enumerate(VOCAB)}, "unk_token": "[UNK]"},
    }


# The image and text inputs of the two grounding graphs, as their manifests state them.
TEXT_INPUTS = """
[input]
name = "image"
side = 32
channels = 1

[intensity]
mode = "min-max"

[text]
tokenizer = "tokenizer.json"
ids = "input_ids"
mask = "attention_mask"
length = 8
"""

MANIFESTS = {
    "promptbox.toml": """# Test graphs from tools/make_test_models.py: a promptable pair whose mask is the prompt box itself.
name = "test-promptbox"
version = "1"
family = "promptable"

[files]
encoder = "box_encoder.onnx"
decoder = "box_decoder.onnx"

[input]
name = "image"
side = 64
channels = 3

[intensity]
mode = "min-max"

[prompt]
embeddings = "image_embeddings"
boxes = "boxes"

[outputs]
embeddings = "image_embeddings"
masks = "low_res_masks"
kind = "logits"
scores = "iou_predictions"
""",
    "seg2d.toml": """# Test graph from tools/make_test_models.py: a 2D segmentation whose arg-max thresholds the window.
name = "test-seg2d"
version = "1"
family = "segmentation"

[files]
graph = "seg2d.onnx"

[input]
name = "image"
side = 64
channels = 1
tile_overlap = 0.25

[intensity]
mode = "window"
window = [-160.0, 240.0]

[outputs]
masks = "logits"
kind = "logits"
classes = ["background", "soft", "dense"]
""",
    "seg3d.toml": """# Test graph from tools/make_test_models.py: a 3D segmentation, bright where the window passes 0.5.
name = "test-seg3d"
version = "1"
family = "segmentation"

[files]
graph = "seg3d.onnx"

[input]
name = "image"
side = 32
depth = 16
channels = 1
layout = "NCDHW"
tile_overlap = 0.5

[intensity]
mode = "window"
window = [0.0, 400.0]

[outputs]
masks = "logits"
kind = "logits"
classes = ["background", "bright"]
""",
    "heatmap.toml": """# Test graph from tools/make_test_models.py: phrase -> similarity map.
name = "test-heatmap"
version = "1"
family = "grounding-heatmap"

[files]
graph = "heatmap.onnx"
""" + TEXT_INPUTS + """
[outputs]
heatmap = "heatmap"
""",
    "boxes.toml": """# Test graph from tools/make_test_models.py: phrase -> scored boxes.
name = "test-boxes"
version = "1"
family = "grounding-box"

[files]
graph = "boxes.onnx"
""" + TEXT_INPUTS + """
[outputs]
boxes = "boxes"
scores = "scores"
box_format = "xyxy-normalised"
score_threshold = 0.5
nms_iou = 0.5
""",
}


def ids_for(words):
    ids = [VOCAB.index(w) for w in words][:TOKENS]
    mask = [1] * len(ids) + [0] * (TOKENS - len(ids))
    return np.int64([ids + [0] * (TOKENS - len(ids))]), np.int64([mask])


def check(out):
    """Runs each graph through onnxruntime on a small input and compares with its formula."""
    import onnxruntime as ort

    def run(name, feeds):
        s = ort.InferenceSession(os.path.join(out, name), providers=["CPUExecutionProvider"])
        return s.run(None, feeds)

    rng = np.random.default_rng(7)
    x = rng.random((1, 1, 64, 64), dtype=np.float32)
    (l,) = run("seg2d.onnx", {"image": x})
    want = np.where(x[0, 0] > 0.6, 2, np.where(x[0, 0] > 0.25, 1, 0))
    assert (l[0].argmax(0) == want).all(), "seg2d"
    x = rng.random((1, 1, 16, 32, 32), dtype=np.float32)
    (l,) = run("seg3d.onnx", {"image": x})
    assert (l[0].argmax(0) == (x[0, 0] > 0.5)).all(), "seg3d"
    img = np.ones((1, 1, HEAT, HEAT), np.float32)
    ids, mask = ids_for(["left", "lower"])
    (h,) = run("heatmap.onnx", {"image": img, "input_ids": ids, "attention_mask": mask})
    t = heat_table()
    assert np.allclose(h[0], (t[2] + t[5]) / 2), "heatmap"
    assert h[0, 31, 31] == 1.0 and h[0, 0, 0] == 0.0 and h[0, 0, 31] == 0.5, "heatmap corners"
    ids, mask = ids_for(["left", "lower", "effusion", "right"])
    b, s = run("boxes.onnx", {"image": img, "input_ids": ids, "attention_mask": mask})
    assert np.allclose(s[0], [0.9, 0.8, 0.7, 0.3, 0, 0, 0, 0]), s
    assert np.allclose(b[0, 0], BOXES["left"][0]), b
    (h,) = run("heatmap.onnx", {"image": img * 0, "input_ids": ids, "attention_mask": mask})
    assert not h.any(), "a blank image gives a zero map"
    x = rng.random((1, 3, 64, 64), dtype=np.float32)
    (e,) = run("box_encoder.onnx", {"image": x})
    m, iou = run("box_decoder.onnx", {"image_embeddings": e, "boxes": np.float32([[10, 20, 30.5, 40]])})
    want = np.full((64, 64), -1.0, np.float32)
    want[20:41, 10:31] = 1.0
    assert (m[0, 0] == want).all() and iou[0, 0] == np.float32(0.75), "promptable box"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    graphs = [("seg2d", seg2d()), ("seg3d", seg3d()), ("heatmap", heatmap()), ("boxes", boxes()),
              ("box_encoder", box_encoder()), ("box_decoder", box_decoder())]
    for name, model in graphs:
        onnx.save(model, os.path.join(out, f"{name}.onnx"))
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump(tokenizer(), f, indent=1)
    for name, text in MANIFESTS.items():
        with open(os.path.join(out, name), "w") as f:
            f.write(text)
    check(out)
    print(f"test models in {out}: seg2d, seg3d, heatmap, boxes, promptbox (checked through onnxruntime)")


if __name__ == "__main__":
    main()
