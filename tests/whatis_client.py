#!/usr/bin/python3
"""The original system's client of the "what is this?" service, unchanged in what it sends: the
image as multipart field `file`, posted with `requests`. Prints the status and the body.

usage: whatis_client.py URL IMAGE
"""
import sys

import requests

url, image = sys.argv[1], sys.argv[2]
with open(image, "rb") as f:
    r = requests.post(url, files={"file": f}, timeout=60)
print(r.status_code)
print(r.text)
