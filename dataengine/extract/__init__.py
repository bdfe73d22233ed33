"""HTML to interleaved document: the main content of a page as text segments and images.

``extract_page`` is the pure core; ``HtmlExtractor`` (``stage``) runs it in the pipeline
and ``commands`` exposes it as ``dataengine extract``.
"""

from .budget import TooComplexError
from .charset import RefusedCharsetError, UndecodableError, decode_html
from .flow import DroppedImage
from .page import ExtractConfig, ExtractedPage, extract_page

__all__ = ["DroppedImage", "ExtractConfig", "ExtractedPage", "RefusedCharsetError", "TooComplexError",
           "UndecodableError", "decode_html", "extract_page"]
