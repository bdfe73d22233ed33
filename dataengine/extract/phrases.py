"""Short lines that are boilerplate by what they say, in the languages the web is mostly written in.

Markup does not always tell a credit or a call to subscribe from the article: sites put them
in plain paragraphs. Their wording does, across sites, so a short line (never a paragraph of
prose) that reads as one of these goes:

- a credit or source label: "Foto: ...", "Credit: ...", "Quelle: ...", "© ...";
- a see-also lead: "Read more", "Mehr zum Thema", "À lire aussi", "Lea también";
- a call or a label of the page's machinery: subscribe, share, comment, log in, tags,
  categories, advertisement, "posted in".

The word lists cover English, German, French, Spanish, Italian, Portuguese and Dutch.
"""

from __future__ import annotations

import re

# Lines longer than these are prose, whatever words they use.
_LABEL_CHARS = 120
_LEAD_CHARS = 60
_CALL_CHARS = 100

_CREDIT = re.compile(
    r"\W*(?:©|\(c\)|(?:fotos?|photos?|photographie|fotografie|bild(?:er)?|titelbild|beitragsbild|images?|imagen|"
    r"immagine|imagem|afbeelding|pictures?|credits?|cr[ée]dits?(?: photos?)?|cr[ée]ditos?|quellen?|sources?|"
    r"fuentes?|fonte|bron|copyright|illustrations?|grafik|abbildung(?: \d+)?)\s*:)", re.I)
_SEE_ALSO = re.compile(
    r"\W*(?:read (?:more|also|next)|also read|see also|related\b|more (?:from|on|in|about)\b|you (?:may|might) also|"
    r"recommended|further reading|don'?t miss|lesen sie (?:auch|hier|mehr|weiter)|siehe auch|"
    r"mehr (?:zum thema|dazu|zu|aus|von|über|infos?)\b|auch interessant|das könnte (?:dich|sie) auch|"
    r"weitere (?:informationen|artikel|themen|beiträge|infos)|schon gelesen|ähnliche (?:beiträge|artikel)|empfohlen|"
    r"(?:à )?lire aussi|à découvrir|voir aussi|sur le même sujet|articles similaires|vous aimerez|"
    r"le[ae] (?:también|más)|vea también|ver también|te puede interesar|le puede interesar|"
    r"leggi anche|vedi anche|potrebbe interessarti|"
    r"leia (?:também|mais)|veja também|lees (?:ook|meer)|zie ook)", re.I)
_CALL = re.compile(
    r"\b(?:comments?|kommentare?|commentaires?|comentarios?|commenti|reacties?|newsletter|subscri(?:be|ption)|"
    r"sign(?:ing)? up|abonnier\w*|anmelden|s'abonner|abonnez|suscr[ií]b\w*|iscriviti|assine|share (?:this|on)|"
    r"teilen|partager|compartir|condividi|logged in|log in|eingeloggt|angemeldet|schlagw\w*|filed under|"
    r"étiquettes|etiquetas|advertisement|anzeige|werbung|publicité|publicidad|pubblicità|advertentie|"
    r"this entry was posted|posted (?:on|in|by)|veröffentlicht (?:am|von)|publié le|publicado (?:el|em))\b"
    r"|\b(?:tags?|kategorien?|categor(?:y|ies))\s*:")  # searched in lower case: re.I makes it four times slower


def is_boilerplate_line(text: str) -> bool:
    """Whether a short block of text is a credit, a see-also lead, or a call or label of the page's machinery."""
    chars = len(text)
    if chars > _LABEL_CHARS:
        return False
    if _CREDIT.match(text):
        return True
    if chars <= _LEAD_CHARS and _SEE_ALSO.match(text):
        return True
    return chars <= _CALL_CHARS and _CALL.search(text.lower()) is not None
