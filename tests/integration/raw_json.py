"""Raw text of parts of a JSON reply, for byte-for-byte comparisons that a
json.loads round trip would hide (26.20 vs 26.2, 1e-7 vs 1e-07)."""
import json


def raw_sources(body):
    """The raw text of every "_source" object of a reply, in order."""
    dec, out, i = json.JSONDecoder(), [], 0
    while (i := body.find('"_source":', i)) >= 0:
        _, end = dec.raw_decode(body, i + 10)
        out.append(body[i + 10:end])
        i = end
    return out
