"""Portrait: a user-profiling and audience platform (用户画像平台).

>>> import portrait
>>> ws = portrait.open("my-workspace")        # doctest: +SKIP
>>> ws.build()                                 # doctest: +SKIP
>>> ws.profile().to_pandas()                   # doctest: +SKIP
"""

from portrait.errors import PortraitError
from portrait.workspace import Workspace, init
from portrait.workspace import open_workspace as open

__version__ = "0.1.0"
__all__ = ["PortraitError", "Workspace", "__version__", "init", "open"]
