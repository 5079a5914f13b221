"""The value types by the :class:`~stair.programs.signatures.VType` that names them."""

from __future__ import annotations

from stair.programs.signatures import VType
from stair.values.base import Value
from stair.values.concept import Concept, Text
from stair.values.frames import Frames, Video
from stair.values.scalars import Bool, Count

VALUE_TYPES: dict[VType, type[Value]] = {
    cls.vtype: cls for cls in (Video, Frames, Concept, Bool, Count, Text)
}
