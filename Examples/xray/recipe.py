"""The two training recipes of the xray examples, defined once so that train_pneumonia.py, train_lungseg.py and
shift_eval.py send the same parameters (issue 22: the README's recipe is the one that holds up best under a
change of hospital).

  classic  the README's first recipe: its augmentation, no harmonization, threshold 0.5 (argmax)
  shift    harmonize: lungs {crop_borders, CLAHE clip 2, 8x8}; pneumonia {crop_borders, equalize} (global
           histogram equalisation: up to quantisation it does not change under any monotone intensity map, so
           gamma and contrast changes reach the network nearly undone); the issue's shift augmentation (gamma [0.5, 2], contrast, noise, blur, letterbox bands,
           elastic, wider zoom/shift); lungs: postprocess {keep_largest 2, fill_holes}; pneumonia: weight
           decay 1e-4 and a threshold chosen by Youden's J (by the caller: it needs validation scores).

`harmonize` is stored in the checkpoint, so predict/segment on a checkpoint repeat it; datasets opened only for
evaluation need it passed again (`inference_params`).
"""
RECIPES = ("shift", "classic")
DEFAULT = "shift"

CLASSIC_AUGMENT = {
    "lung": {"rotation": 10, "zoom": 0.1, "shift": 0.05, "brightness": 0.1, "contrast": 0.1},
    "pneumonia": {"rotation": 10, "shear": 0.2, "zoom": 0.2, "horizontal_flip": True},
}
SHIFT_AUGMENT = {"gamma": [0.5, 2.0], "contrast": 0.4, "brightness": 0.1, "noise": 0.04, "blur": 2.0,
                 "letterbox_pad": 0.25, "elastic": {"alpha": 20, "sigma": 8}, "rotation": 10,
                 "zoom_range": [0.8, 1.25], "width_shift_range": 0.08, "height_shift_range": 0.08}
# CLAHE (clip 2, 8x8) was the first choice for both; under gamma 2.0 it left the classifier's specificity 0.075
# below clean (README, issue 22), so the classifier takes the global equalisation. The lung model met its bound
# with CLAHE and keeps it (the README's lung table was measured with it).
HARMONIZE = {
    "lung": {"crop_borders": True, "clahe": {"clip_limit": 2.0, "tile_grid": [8, 8]}},
    "pneumonia": {"crop_borders": True, "equalize": True},
}
POSTPROCESS = {"keep_largest": 2, "fill_holes": True}
WEIGHT_DECAY = 1e-4


def check(recipe):
    if recipe not in RECIPES:
        raise ValueError(f"recipe is one of {RECIPES}, not {recipe!r}")
    return recipe


def augment(task, recipe):
    """The `augment` object of dataset.open for training."""
    if check(recipe) == "classic":
        return dict(CLASSIC_AUGMENT[task])
    return dict(SHIFT_AUGMENT, horizontal_flip=True) if task == "pneumonia" else dict(SHIFT_AUGMENT)


def inference_params(task, recipe):
    """The params every dataset.open / predict / segment of this recipe's model takes besides its own: harmonize."""
    return {"harmonize": dict(HARMONIZE[task])} if check(recipe) == "shift" else {}


def dataset_params(task, recipe):
    """The recipe's params of the training dataset.open: augment (and harmonize for the shift recipe)."""
    return {"augment": augment(task, recipe), **inference_params(task, recipe)}


def train_params(task, recipe):
    """What the recipe adds to train.configure."""
    return {"weight_decay": WEIGHT_DECAY} if check(recipe) == "shift" and task == "pneumonia" else {}


def postprocess(task, recipe):
    """The postprocess object of segment / evaluate, or None."""
    return dict(POSTPROCESS) if check(recipe) == "shift" and task == "lung" else None
