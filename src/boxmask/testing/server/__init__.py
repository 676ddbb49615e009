"""``FakeGemini``: a Gemini-protocol server on 127.0.0.1 for offline tests and demos.

The official ``google-genai`` SDK works against it unchanged, with its defaults
(``genai.Client(api_key=..., http_options={"base_url": fake.base_url})``), and so does
boxmask's own client. It serves, under ``/v1/`` and ``/v1beta/``:

- ``models/{m}:generateContent``, ``:streamGenerateContent`` (``?alt=sse``: chunks shaped
  as the service's), ``:countTokens`` (the guide's image token rules), ``models`` get / list
  (:mod:`~boxmask.testing.server.generate`);
- Interactions create (also streamed) / get / delete / cancel
  (:mod:`~boxmask.testing.server.interactions`);
- the Files API resumable upload (``/upload/{v}/files``; the returned upload URL
  authorizes the byte upload, which carries no key), get / list / delete, and the download
  of generated files (:mod:`~boxmask.testing.server.files`);
- the Batch API: ``models/{m}:batchGenerateContent`` (inline requests or an uploaded JSONL
  file) and ``batches/{id}`` get / list / cancel / delete, with a controllable state
  progression (``batch_polls``, :meth:`FakeGemini.finish_batch`); the behaviour is
  documented in :mod:`~boxmask.testing.server.batches`.

Authentication by ``x-goog-api-key`` or ``?key=``; errors are Google bodies
(``{"error": {code, message, status, details}}``, :mod:`~boxmask.testing.server.errors`),
unknown fields are refused as the proto-JSON parser refuses them. Its "model" really
looks at the image (see :mod:`boxmask.testing.scenes`): it segments coloured shapes and
answers detection, segmentation, pointing and caption prompts in the formats Gemini uses.
Faults are injected per test with :meth:`FakeGemini.add_fault`
(:mod:`~boxmask.testing.server.faults`). Images at ``/static/{name}``
(:meth:`FakeGemini.add_static`) stand in for public URLs.

Stdlib only (``http.server.ThreadingHTTPServer`` in a daemon thread), HTTP/1.1 keep-alive.
The modules: ``http`` (reading within limits, auth, faults, writing), ``routes`` (the URL
map), ``wire`` (reading request bodies), ``model`` (answers and response bodies),
``state`` / ``records`` (what the service remembers).
"""

from boxmask.testing.server.errors import RequestError
from boxmask.testing.server.fake import FakeGemini
from boxmask.testing.server.faults import ENDPOINTS, FAULT_KINDS, Fault
from boxmask.testing.server.records import BatchJob, RecordedRequest, StoredFile

__all__ = [
    "ENDPOINTS",
    "FAULT_KINDS",
    "BatchJob",
    "FakeGemini",
    "Fault",
    "RecordedRequest",
    "RequestError",
    "StoredFile",
]
