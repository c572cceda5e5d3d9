"""Meeting-link providers behind one interface; `load_provider(config)` picks the configured one."""
from __future__ import annotations

from .base import MeetingInfo, VideoProvider, VideoRoom, VideoUnavailable


def load_provider(config) -> VideoProvider:  # type: ignore[no-untyped-def]
    name = config.video.provider
    if name == "jitsi":
        from .jitsi import JitsiProvider

        return JitsiProvider(base_url=config.video.jitsi_base_url)
    if name == "vdx":
        from .vdx import VdxProvider

        return VdxProvider(base_url=config.video.vdx_base_url, token=config.video.vdx_token,
                           timeout=config.video.timeout_seconds)
    raise ValueError(f"unknown video provider {name!r}")


__all__ = ["MeetingInfo", "VideoProvider", "VideoRoom", "VideoUnavailable", "load_provider"]
