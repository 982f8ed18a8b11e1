"""The README put into every audit bundle: what each field means and how to verify offline."""

from __future__ import annotations

README = '''# cmp consent log — audit bundle

This zip holds one site's complete consent log as kept by cmp, with what you need to check,
without trusting the operator, that it is complete and unaltered.

## Files

- `records.ndjson` — every event of the site's log, one JSON object per line, in `seq` order.
- `snapshots/<hash>.json` — every banner configuration the records name, byte for byte as it was
  served to visitors. The file name is the SHA-256 of its bytes (the "revision").
- `checkpoints.json` — signed statements of the chain head (`seq`, `hash`, `time`) made by the
  service, daily and on demand.
- `manifest.json` — site, export time, counts, and the list of chained fields.

## Fields of a record

| field | meaning |
|---|---|
| `seq` | position in the site's log: 1, 2, 3, … with no gaps |
| `consent_id` | the random id stored in the visitor's cookie (not a person's identity) |
| `kind` | `given`, `updated`, `withdrawn`, `expired` or `erased` |
| `action` | `accept_all`, `reject_all`, `custom`, `withdraw`, `expire` or `erase` |
| `purposes_granted`, `purposes_denied` | purpose ids the visitor allowed / refused |
| `vendors_granted`, `vendors_denied` | vendor ids the visitor allowed / refused |
| `snapshot_hash` | SHA-256 of the configuration the visitor saw (see `snapshots/`) |
| `language` | language of the banner shown |
| `url` | page URL without query string or fragment |
| `user_agent` | the browser's User-Agent header |
| `ip_truncated` | the client address cut to its network (IPv4 /24, IPv6 /48) |
| `ip_hash` | HMAC-SHA-256 of the truncated address under a key kept outside the database |
| `ip_key_id` | which IP-hash key was used (keys rotate) |
| `gpc` | whether the browser sent Global Privacy Control |
| `created_at` | server time of the event, UTC |
| `expires_at` | when the consent lapses |
| `erased_digests` | for erased fields: the SHA-256 digest each field had before erasure |
| `prev_hash` | `hash` of the previous record (64 zeros for `seq` 1) |
| `hash` | the hash of this record (below) |

The raw IP address is never stored: not in the database, not in this bundle.

## How the chain works

Each chained field is serialised as canonical JSON (sorted keys, no spaces, UTF-8, timestamps
as `YYYY-MM-DDTHH:MM:SS.ffffffZ`) and hashed with SHA-256: that is the field's *digest*.
The record's `hash` is

    SHA-256( prev_hash + "\\n" + digest(f1) + "\\n" + digest(f2) + … )

over the fields, in this order: {CHAINED_FIELDS}.

Changing, removing, inserting or reordering any record changes a hash that a later record (and
any checkpoint after it) depends on. When a visitor's data is erased (on request, or after the
retention period) the fields `url`, `user_agent`, `ip_truncated` and `ip_hash` are emptied and
their digests kept in `erased_digests`: the chain still verifies, the data is gone. Every erasure
is itself a record (`kind` = `erased`).

## How to verify

With cmp installed: `flask cmp verify --bundle THIS.zip` (exit status 0 when everything holds;
otherwise it prints the first broken `seq` and whether a record was modified, missing, inserted
or reordered).

Without cmp, a few lines of Python 3 check every link:

```python
import hashlib, json, sys, zipfile
FIELDS = {CHAINED_FIELDS}
def digest(value):
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
prev, seq = "0" * 64, 0
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in z.namelist():
        if name.startswith("snapshots/"):
            assert hashlib.sha256(z.read(name)).hexdigest() in name, name
    hashes = {}
    for line in z.open("records.ndjson"):
        e, seq = json.loads(line), seq + 1
        kept = e.get("erased_digests") or {}
        assert e["seq"] == seq and e["prev_hash"] == prev, f"broken at seq {seq}"
        link = prev + "\\n" + "\\n".join(kept.get(f) or digest(e[f]) for f in FIELDS)
        prev = hashlib.sha256(link.encode()).hexdigest()
        assert prev == e["hash"], f"seq {seq} was modified"
        hashes[seq] = prev
    for c in json.loads(z.read("checkpoints.json")):
        assert hashes.get(c["seq"]) == c["hash"], f"checkpoint at seq {c['seq']} differs"
    end = json.loads(z.read("manifest.json"))
    assert (seq, prev) == (end["last_seq"], end["last_hash"]), "records missing at the end"
print("OK", seq, "records")
```

## Checkpoints

Keep the checkpoints of every bundle you receive. A later bundle must contain each `seq` you
kept with the same `hash`: if it does, nothing before that point was rewritten since. The
signatures are HMACs of the service; the operator can check them with
`flask cmp verify --bundle THIS.zip --signatures`.
'''
