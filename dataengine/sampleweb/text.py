"""The sample web's words: article text around scenes in English, German and French, and spam.

English scene descriptions use the canonical wording of ``schemas.scenes`` so that text near
an image matches the ground-truth caption; German and French pages carry their own wording
(they are language noise, not training captions).
"""

from __future__ import annotations

import random

from schemas.scenes import Scene, SceneObject

SITE_NAME = "The Shape Gazette"

_FILLER = {
    "en": [
        "Our readers keep sending us drawings, and this week we picked a few favourites.",
        "Simple shapes are the alphabet of every picture we make.",
        "A good composition leaves enough empty space around each object.",
        "Colour and position tell the eye where to look first.",
        "We drew every figure by hand before scanning it for the magazine.",
        "Counting objects is the first step in describing a picture precisely.",
        "Teachers tell us these exercises help children learn the names of colours.",
        "The white background keeps attention on the shapes themselves.",
        "Try covering the picture and describing it from memory.",
        "Next month we will look at how painters balance heavy and light colours.",
        "Many of you asked why we keep coming back to circles, squares and triangles.",
        "Each figure in this series follows the same strict set of rules.",
    ],
    "de": [
        "Unsere Leserinnen und Leser schicken uns jede Woche neue Zeichnungen.",
        "Einfache Formen sind das Alphabet jedes Bildes, das wir gestalten.",
        "Eine gute Komposition lässt genug leeren Raum um jedes Objekt.",
        "Farbe und Position sagen dem Auge, wohin es zuerst schauen soll.",
        "Wir haben jede Figur von Hand gezeichnet, bevor wir sie eingescannt haben.",
        "Das Zählen der Objekte ist der erste Schritt zu einer genauen Beschreibung.",
        "Der weiße Hintergrund lenkt die Aufmerksamkeit auf die Formen selbst.",
        "Im nächsten Monat schauen wir uns an, wie Maler schwere und leichte Farben verteilen.",
    ],
    "fr": [
        "Nos lecteurs nous envoient chaque semaine de nouveaux dessins.",
        "Les formes simples sont l'alphabet de toutes les images que nous créons.",
        "Une bonne composition laisse assez d'espace vide autour de chaque objet.",
        "La couleur et la position indiquent à l'œil où regarder en premier.",
        "Nous avons dessiné chaque figure à la main avant de la numériser.",
        "Compter les objets est la première étape d'une description précise.",
        "Le fond blanc garde l'attention sur les formes elles-mêmes.",
        "Le mois prochain, nous verrons comment les peintres équilibrent les couleurs.",
    ],
}
_INTRO = {
    "en": ["The next picture shows {}.", "Below you can see {}.", "Here is a drawing of {}.",
           "In this figure we placed {}.", "Look closely: {}."],
    "de": ["Das nächste Bild zeigt {}.", "Unten sehen Sie {}.", "Hier ist eine Zeichnung: {}."],
    "fr": ["L'image suivante montre {}.", "Ci-dessous, vous voyez {}.", "Voici un dessin : {}."],
}
_TITLE = {
    "en": ["Study of shapes: {}", "Figures of the week: {}", "Drawing lesson: {}", "Reader submissions: {}"],
    "de": ["Formenstudie: {}", "Figuren der Woche: {}"],
    "fr": ["Étude de formes : {}", "Figures de la semaine : {}"],
}
_NUMBERS = {"de": ["ein", "zwei", "drei", "vier"], "fr": ["un", "deux", "trois", "quatre"]}
_DE_NOUNS = {"circle": ("Kreis", "Kreise", "er"), "square": ("Quadrat", "Quadrate", "es"),
             "triangle": ("Dreieck", "Dreiecke", "es")}
_DE_COLOURS = {"red": "rot", "green": "grün", "blue": "blau", "yellow": "gelb", "purple": "violett",
               "orange": "orangefarben"}
_DE_WHERE = {"left": "links", "right": "rechts", "top": "oben", "bottom": "unten", "center": "in der Mitte"}
_FR_NOUNS = {"circle": "cercle", "square": "carré", "triangle": "triangle"}
_FR_COLOURS = {"red": "rouge", "green": "vert", "blue": "bleu", "yellow": "jaune", "purple": "violet",
               "orange": "orange"}
_FR_WHERE = {"left": "à gauche", "right": "à droite", "top": "en haut", "bottom": "en bas",
             "center": "au centre"}
_AND = {"en": " and ", "de": " und ", "fr": " et "}
FIGURE = {"en": "Figure", "de": "Abbildung", "fr": "Figure"}
SPAM_KEYWORDS = ("cheap", "best price", "free", "casino", "bonus", "pills", "win", "discount", "buy now",
                 "lowest price", "shapes", "deal", "offer", "click here")


def object_phrase(obj: SceneObject, lang: str) -> str:
    """``obj`` in words: ``"two red circles on the left"``, ``"zwei rote Kreise links"``, ..."""
    if lang == "en":
        return obj.phrase()
    if lang == "de":
        singular, plural, ending = _DE_NOUNS[obj.shape]
        colour = _DE_COLOURS[obj.colour]
        if obj.count == 1:
            return f"ein {colour}{ending} {singular} {_DE_WHERE[obj.position]}"
        return f"{_NUMBERS['de'][obj.count - 1]} {colour}e {plural} {_DE_WHERE[obj.position]}"
    if lang == "fr":
        noun, colour = _FR_NOUNS[obj.shape], _FR_COLOURS[obj.colour]
        if obj.count > 1:
            noun += "s"
            colour += "" if colour == "orange" else "s"
        return f"{_NUMBERS['fr'][obj.count - 1]} {noun} {colour} {_FR_WHERE[obj.position]}"
    raise ValueError(f"language must be en, de or fr, got {lang!r}")


def scene_phrase(scene: Scene, lang: str) -> str:
    """All the scene's groups in words, lower case, without a full stop."""
    return _AND[lang].join(object_phrase(o, lang) for o in scene.objects)


def sentence(text: str) -> str:
    """``text`` with a capital first letter and a full stop."""
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def title(rng: random.Random, scene: Scene, lang: str) -> str:
    """An article title built around its first scene."""
    return rng.choice(_TITLE[lang]).format(scene_phrase(scene, lang))


def filler(rng: random.Random, lang: str, sentences: int) -> str:
    """``sentences`` sentences of on-topic filler in ``lang``."""
    return " ".join(rng.sample(_FILLER[lang], sentences))


def image_paragraph(rng: random.Random, scene: Scene | None, lang: str) -> str:
    """A paragraph that leads into the next image: it names the scene when there is one."""
    text = filler(rng, lang, rng.randint(1, 3))
    if scene is not None and rng.random() < 0.75:
        text += " " + rng.choice(_INTRO[lang]).format(scene_phrase(scene, lang))
    return text


def alt_text(rng: random.Random, scene: Scene, lang: str, filename: str) -> str:
    """Alt text as sites write it: the description, a paraphrase, nothing, or a file name."""
    roll = rng.random()
    if roll < 0.5:
        return sentence(scene_phrase(scene, lang))
    if roll < 0.7:
        return {"en": "Drawing: ", "de": "Zeichnung: ", "fr": "Dessin : "}[lang] + scene_phrase(scene, lang)
    if roll < 0.85:
        return ""
    return filename


def spam_paragraph(rng: random.Random) -> str:
    """Keyword stuffing: the same few money words over and over."""
    words = [rng.choice(SPAM_KEYWORDS) for _ in range(rng.randint(40, 70))]
    return " ".join(words).upper() if rng.random() < 0.3 else " ".join(words)


def spam_title(rng: random.Random) -> str:
    """A spam page title: stacked keywords."""
    return " ".join(w.title() for w in rng.sample(SPAM_KEYWORDS, 5)) + " !!!"
