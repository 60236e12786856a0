"""Sullivan's influence-diagram tuner (seed document 002): Berkeley DB's knobs chosen per workload by an
influence diagram learned from measured runs.

Layers: the structure as data (``_structure``), examples from trial records (``_data``), MDL discretization
(``_discretize``), parameters with the unseen-parameter estimator (``_unseen``, ``_model``), evaluation with
pyAgrum's LIMID inference, and the fading-factor update (``InfluenceModel.update``).
"""

from trainables.influence._data import (
    Examples,
    decision_states,
    example_of,
    examples_from_rows,
    knob_config,
    training_design,
)
from trainables.influence._discretize import (
    Discretization,
    candidate_cuts,
    equal_height,
    mdl_discretize,
    mutual_information,
)
from trainables.influence._model import (
    VALUE_SCALES,
    InfluenceModel,
    fit_weights,
    learn,
    scaled_values,
    weight_rows,
)
from trainables.influence._structure import (
    COMBINATIONS,
    DECISIONS,
    MIX,
    VARIANTS,
    Node,
    NodeKind,
    Structure,
    berkeleydb_structure,
)
from trainables.influence._train import WEIGHTS, fit_diagram, load_examples, train_influence
from trainables.influence._unseen import Estimate, UnseenEstimator, assign_probs

__all__ = [
    "COMBINATIONS",
    "DECISIONS",
    "MIX",
    "VALUE_SCALES",
    "VARIANTS",
    "WEIGHTS",
    "Discretization",
    "Estimate",
    "Examples",
    "InfluenceModel",
    "Node",
    "NodeKind",
    "Structure",
    "UnseenEstimator",
    "assign_probs",
    "berkeleydb_structure",
    "candidate_cuts",
    "decision_states",
    "equal_height",
    "example_of",
    "examples_from_rows",
    "fit_diagram",
    "fit_weights",
    "knob_config",
    "learn",
    "load_examples",
    "mdl_discretize",
    "mutual_information",
    "scaled_values",
    "train_influence",
    "training_design",
    "weight_rows",
]
