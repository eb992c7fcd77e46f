"""cmlearn: the companion package of the book *Cross-modal learning, as a book you can run*.

Each module holds one concept of the book:

- :mod:`cmlearn.device` — CPU or GPU, and mixed precision
- :mod:`cmlearn.seed` — one seeding call
- :mod:`cmlearn.data` — datasets the book generates itself (scenes, questions, audio, video)
  and loaders for real image–caption folders; :mod:`cmlearn.data.text` tokenizes captions
- :mod:`cmlearn.encoders` — feature extractors per modality (§3.2.1)
- :mod:`cmlearn.align` — shared space and contrastive loss (§3.2.2)
- :mod:`cmlearn.train` — the training loop
- :mod:`cmlearn.metrics` — retrieval and classification metrics
- :mod:`cmlearn.plot` — figures
"""

from cmlearn.align import DualEncoder, ProjectionHead, clip_loss
from cmlearn.device import select_device
from cmlearn.seed import seed_everything
from cmlearn.train import fit

__version__ = "0.1.0"

__all__ = ["DualEncoder", "ProjectionHead", "clip_loss", "fit", "seed_everything", "select_device", "__version__"]
