"""The request logic shared by :class:`~boxmask.Client` and :class:`~boxmask.AsyncClient`:
images → parts (inline or uploaded), model call, answer → text or Detections.

Everything here is a *flow* (see :mod:`boxmask.api.transport`), run by either client.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from boxmask.api.cache import FileCache, account_fingerprint
from boxmask.api.defaults import CHUNK_SIZE, DEFAULT_INLINE_LIMIT
from boxmask.api.files import File, file_name, get_flow, upload_flow
from boxmask.api.http import Session, call, log
from boxmask.api.images import ImageRef, PreparedImage, is_files_name, is_url, prepare_image
from boxmask.api.options import TaskOptions
from boxmask.api.prompts import TaskPrompt, detect_prompt, point_prompt, segment_prompt
from boxmask.api.transport import Flow, HttpCall, Offload
from boxmask.api.wire import (
    Answer,
    GenerationSettings,
    ImagePart,
    Part,
    TextPart,
    build_body,
    endpoint_path,
    read_answer,
    request_json,
)
from boxmask.detections import AnswerInfo, Detections
from boxmask.envelopes import is_truncation_reason
from boxmask.errors import (
    ApiError,
    BlockedError,
    ImageError,
    MissingApiKeyError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    TruncatedError,
)
from boxmask.parse import parse

__all__ = ["DEFAULT_INLINE_LIMIT", "Engine", "Response", "SentImage"]

_EXT_MIME = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".heif": "image/heif",
}
_TASKS = {"detect": detect_prompt, "segment": segment_prompt, "point": point_prompt}


@dataclass(frozen=True)
class SentImage:
    """How one image went to the model: ``how`` is ``"inline"``, ``"file"`` (uploaded or a
    Files URI) or ``"url"``; ``width``/``height`` are upright pixels (None when unknown)."""

    source: str
    how: str
    mime_type: str | None
    width: int | None
    height: int | None
    uri: str | None = None


@dataclass(frozen=True)
class Response:
    """A model answer: ``text``, ``finish_reason`` (``STOP``, ``MAX_TOKENS``, ``COMPLETED``,
    ``INCOMPLETE``…), ``usage`` as the API reports it, the ``model`` version, the images as
    sent, and the decoded JSON body in ``raw``."""

    text: str
    finish_reason: str | None
    usage: dict[str, Any] | None
    model: str | None
    response_id: str | None
    api: str
    images: tuple[SentImage, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def truncated(self) -> bool:
        """True when the model stopped at its output-token limit."""
        return is_truncation_reason(self.finish_reason)

    def answer_info(self) -> AnswerInfo:
        """What :func:`boxmask.parse` records of this answer (``parse(response.text,
        info=response.answer_info(), ...)`` reads the response once)."""
        return AnswerInfo(
            text=self.text, finish_reason=self.finish_reason, usage=self.usage, model=self.model
        )


def _b64_len(data: bytes) -> int:
    return 4 * math.ceil(len(data) / 3)


class Engine:
    """Configuration plus flows; one per client."""

    def __init__(
        self,
        session: Session,
        *,
        model: str,
        api: str,
        inline_limit: int = DEFAULT_INLINE_LIMIT,
        chunk_size: int = CHUNK_SIZE,
        file_cache: FileCache | None = None,
        poll_interval: float = 0.5,
    ) -> None:
        if api not in ("interactions", "generate_content"):
            raise ValueError(f"api must be 'interactions' or 'generate_content', got {api!r}")
        if inline_limit < 0:
            raise ValueError("inline_limit must be >= 0 bytes")
        self.session = session
        self.model = model
        self.api = api
        self.inline_limit = inline_limit
        self.chunk_size = chunk_size
        self.cache = file_cache if file_cache is not None else FileCache()
        self.poll_interval = poll_interval

    # ------------------------------------------------------------------ files
    def account(self) -> str:
        return account_fingerprint(self.session.key(), self.session.base_url)

    def forget_file(self, name: str) -> None:
        """Drop ``files/abc`` from the upload cache (nothing to do without a key)."""
        try:
            account = self.account()
        except MissingApiKeyError:
            return
        self.cache.forget(account, name=name)

    def is_files_uri(self, text: str) -> bool:
        if is_files_name(text):
            return True
        return is_url(text) and "/v1beta/files/" in text

    def files_uri(self, text: str) -> str:
        return f"{self.session.base_url}/v1beta/{file_name(text)}" if not is_url(text) else text

    def upload_prepared(self, image: PreparedImage, *, use_cache: bool = True) -> Flow[File]:
        """Upload ``image.data`` (or reuse a cached upload of the same bytes)."""
        assert image.data is not None
        account = self.account()
        if use_cache:
            hit = self.cache.get(account, image.sha256)
            if hit is not None:
                log.debug("reusing %s for %s", hit.file.name, image.source)
                return hit.file
        file = yield from upload_flow(
            self.session,
            image.data,
            mime_type=image.mime_type or "application/octet-stream",
            display_name=image.source[:512],
            chunk_size=self.chunk_size,
            poll_interval=self.poll_interval,
        )
        self.cache.put(account, image.sha256, file, image.width, image.height)
        return file

    def upload_source(
        self, source: Any, mime_type: str | None, display_name: str | None, *, cache: bool
    ) -> Flow[File]:
        """``client.files.upload``: read a path/bytes/image, then upload it."""
        prepared: PreparedImage
        if (
            isinstance(source, (bytes, bytearray, memoryview))
            and mime_type
            and (not str(mime_type).startswith("image/"))
        ):
            prepared = PreparedImage(mime_type, bytes(source), source="bytes")
        else:
            prepared = yield Offload(lambda: prepare_image(source, need_size=False))
        if mime_type and not prepared.reencoded:
            prepared = replace(prepared, mime_type=mime_type)
        if display_name:
            prepared = replace(prepared, source=display_name)
        if prepared.data is None:
            raise ImageError(f"{prepared.source}: only local images can be uploaded")
        return (yield from self.upload_prepared(prepared, use_cache=cache))

    # ----------------------------------------------------------------- images
    def _remote(self, ref: ImageRef, need_size: bool) -> Flow[PreparedImage]:
        if self.is_files_uri(ref.uri):
            return (yield from self._files_ref(ref, need_size))
        uri = ref.uri
        mime = ref.mime_type or _EXT_MIME.get(os.path.splitext(urlsplit(uri).path)[1].lower())
        if mime and (not need_size or (ref.width and ref.height)):
            return PreparedImage(mime, uri=uri, width=ref.width, height=ref.height, source=uri)
        # The size or the type is unknown: download the image (without the API key).
        reply, _ = yield from call(
            self.session,
            HttpCall("GET", uri, follow_redirects=True),
            f"download of {uri}",
            decode=False,
        )
        local = yield Offload(lambda: _downloaded(reply.body, uri, need_size))
        if local.reencoded:  # turned by EXIF or not a type Gemini takes: send the pixels
            return replace(local, source=uri)
        return PreparedImage(
            local.mime_type, uri=uri, width=local.width, height=local.height, source=uri
        )

    def _files_ref(self, ref: ImageRef, need_size: bool) -> Flow[PreparedImage]:
        """A Files API image: its type and size from the ref, the cache or the service."""
        uri = self.files_uri(ref.uri)
        width, height, mime = ref.width, ref.height, ref.mime_type
        hit = self.cache.find_uri(self.account(), uri)
        if hit is not None:
            width = width or hit.width
            height = height or hit.height
            mime = mime or hit.file.mime_type
        if mime is None:
            mime = (yield from get_flow(self.session, uri)).mime_type
        if need_size and (width is None or height is None):
            raise ImageError(
                f"{uri}: the pixel size of this Files API image is unknown; pass "
                "ImageRef(uri, width=..., height=...) or upload it with this client"
            )
        return PreparedImage(mime, uri=uri, width=width, height=height, source=uri)

    def prepare(self, image: Any, need_size: bool) -> Flow[PreparedImage]:
        if isinstance(image, File):
            image = ImageRef(image.uri, image.mime_type)
        if isinstance(image, str) and (is_url(image) or self.is_files_uri(image)):
            image = ImageRef(image)
        if isinstance(image, ImageRef):
            return (yield from self._remote(image, need_size))
        return (yield Offload(lambda: prepare_image(image, need_size=need_size)))

    def build_parts(
        self, items: Sequence[Any], need_size: bool, upload: bool | None, use_cache: bool
    ) -> Flow[tuple[list[Part], list[SentImage], bool]]:
        """Parts in order (:class:`TextPart` items are text, anything else an image);
        returns (parts, images sent, whether a cached upload was used)."""
        prepared: list[PreparedImage | TextPart] = []
        for item in items:
            if isinstance(item, TextPart):
                prepared.append(item)
            else:
                prepared.append((yield from self.prepare(item, need_size)))
        local = [p for p in prepared if isinstance(p, PreparedImage) and p.data is not None]
        to_upload: list[PreparedImage] = []
        if upload:
            to_upload = local
        elif upload is None:
            total = sum(_b64_len(p.data or b"") for p in local)
            for p in sorted(local, key=lambda p: len(p.data or b""), reverse=True):
                if total <= self.inline_limit:
                    break
                to_upload.append(p)
                total -= _b64_len(p.data or b"")
        uploaded: dict[int, File] = {}
        used_cache = False
        for p in to_upload:
            if use_cache and self.cache.get(self.account(), p.sha256) is not None:
                used_cache = True
            uploaded[id(p)] = yield from self.upload_prepared(p, use_cache=use_cache)
        parts: list[Part] = []
        sent: list[SentImage] = []
        for entry in prepared:
            if isinstance(entry, TextPart):
                parts.append(entry)
                continue
            p = entry
            file = uploaded.get(id(p))
            if file is not None:
                parts.append(ImagePart(file.mime_type or p.mime_type, uri=file.uri))
                sent.append(SentImage(p.source, "file", p.mime_type, p.width, p.height, file.uri))
            elif p.data is not None:
                parts.append(ImagePart(p.mime_type, data=p.data))
                sent.append(SentImage(p.source, "inline", p.mime_type, p.width, p.height))
            else:
                how = "file" if p.uri and self.is_files_uri(p.uri) else "url"
                parts.append(ImagePart(p.mime_type, uri=p.uri))
                sent.append(SentImage(p.source, how, p.mime_type, p.width, p.height, p.uri))
        return parts, sent, used_cache

    # ------------------------------------------------------------------ calls
    def generate(
        self,
        items: Sequence[Any],
        settings: GenerationSettings,
        *,
        model: str | None = None,
        upload: bool | None = None,
        need_size: bool = False,
    ) -> Flow[Response]:
        """One model call with ``items`` (:class:`TextPart` and images, in order)."""
        model = model or self.model
        api = self.api
        what = f"{api} call to {model}"
        use_cache = True
        while True:
            parts, sent, used_cache = yield from self.build_parts(
                items, need_size, upload, use_cache
            )
            body = yield Offload(partial(build_body, api, model, parts, settings))
            request = HttpCall(
                "POST",
                self.session.url(endpoint_path(api, model)),
                self.session.headers({"Content-Type": "application/json"}),
                body,
            )
            try:
                _, value = yield from call(self.session, request, what)
                break
            except (PermissionDeniedError, NotFoundError):
                if not used_cache:
                    raise
                # A cached upload was deleted or expired early: upload afresh, once.
                log.info("%s: a cached file is gone; uploading again", what)
                for image in sent:
                    if image.how == "file" and image.uri:
                        self.cache.forget(self.account(), name=file_name(image.uri))
                use_cache = False
        try:
            answer = read_answer(api, value)
        except ValueError as exc:
            raise ServerError(f"{what}: unexpected response shape ({exc})") from None
        raise_for_answer(answer, what)
        return Response(
            answer.text,
            answer.finish_reason,
            answer.usage,
            answer.model,
            answer.response_id,
            api,
            tuple(sent),
            value,
        )

    def request_body(
        self,
        items: Sequence[Any],
        settings: GenerationSettings,
        *,
        model: str | None = None,
        upload: bool | None = None,
    ) -> Flow[dict[str, Any]]:
        """The ``generateContent`` request :meth:`generate` would send for ``items``, as a
        dict (images inline or uploaded, as ``upload`` and ``inline_limit`` decide): a
        Batch API input line's ``request``."""
        parts, _, _ = yield from self.build_parts(items, False, upload, True)
        model = model or self.model
        return request_json("generate_content", model, parts, settings)

    def spatial(self, task: str, image: Any, what: str, options: TaskOptions) -> Flow[Detections]:
        """detect / segment / point on one image → Detections in that image's pixels."""
        o = options
        factory = _TASKS[task]
        base: TaskPrompt = factory(what) if o.max_items is None else factory(what, o.max_items)
        tp = base.with_overrides(
            prompt=o.prompt,
            what=what,
            system_instruction=o.system_instruction,
            schema=o.schema,
            thinking=o.thinking,
        )
        settings = GenerationSettings(
            system_instruction=tp.system_instruction,
            schema=tp.schema,
            json_output=tp.json_output,
            thinking=tp.thinking,
            media_resolution=o.media_resolution,
            max_output_tokens=o.max_output_tokens,
            temperature=tp.temperature if self.api == "generate_content" else None,
        )
        response = yield from self.generate(
            [TextPart(tp.text), image], settings, model=o.model, upload=o.upload, need_size=True
        )
        sent = response.images[0]
        width, height = sent.width, sent.height
        assert width is not None and height is not None
        threshold = o.threshold
        # The envelope was read once, in generate(): parse gets its text and info.
        info = response.answer_info()
        detections: Detections = yield Offload(
            lambda: parse(response.text, width=width, height=height, threshold=threshold, info=info)
        )
        if detections.answer is not None:
            extra = {
                **detections.answer.extra,
                "api": response.api,
                "response_id": response.response_id,
                "task": task,
                "image": {"source": sent.source, "how": sent.how, "mime_type": sent.mime_type},
            }
            detections.answer = replace(detections.answer, extra=extra)
        if response.truncated and not o.allow_truncated:
            raise TruncatedError(
                f"{task}: the model stopped at its output limit ({response.finish_reason}); "
                f"{len(detections)} complete item(s) are in .detections. Raise "
                "max_output_tokens, lower max_items, or pass allow_truncated=True.",
                detections=detections,
            )
        return detections

    def ask(
        self,
        images: Any,
        prompt: str,
        *,
        settings: GenerationSettings,
        model: str | None,
        upload: bool | None,
        allow_truncated: bool,
    ) -> Flow[str]:
        """Free-text answer about one or several images."""
        many = isinstance(images, (list, tuple))
        image_list = list(images) if many else [images]
        if not image_list:
            raise ValueError("ask needs at least one image")
        # The text goes first, then the images in the caller's order (the rule,
        # and what the guide's Interactions examples do).
        items = [TextPart(prompt), *image_list]
        response = yield from self.generate(items, settings, model=model, upload=upload)
        if response.truncated and not allow_truncated:
            raise TruncatedError(
                f"ask: the answer stopped at the output limit ({response.finish_reason}) "
                f"after {len(response.text)} characters. Raise max_output_tokens or pass "
                "allow_truncated=True to get the partial text."
            )
        return response.text


def _downloaded(body: bytes, uri: str, need_size: bool) -> PreparedImage:
    """A downloaded URL image, typed by its bytes (the URL named no known type)."""
    try:
        return prepare_image(body, need_size=need_size, name=uri)
    except ImageError as exc:
        raise ImageError(
            f"{exc}. The URL names no image type boxmask knows either: pass "
            "ImageRef(url, mime_type='image/...') if the service can read it"
        ) from None


def raise_for_answer(answer: Answer, what: str) -> None:
    """Raise :class:`BlockedError` for a blocked answer, ApiError for a failed one."""
    if answer.block_reason:
        where = "answer" if answer.text or answer.finish_reason else "prompt"
        raise BlockedError(
            f"{what}: the {where} was blocked ({answer.block_reason}). Safety blocks are not "
            "retried: change the prompt or the image.",
            reason=answer.block_reason,
        )
    if answer.failure:
        raise ApiError(f"{what}: the interaction failed: {answer.failure}")
