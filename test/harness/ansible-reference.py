"""Ansible's own answer for the fleet client's tests: for each inventory, the hosts that
`ansible all --limit PATTERN` targets, in Ansible's order, from ansible-core's InventoryManager
(the code behind ansible --list-hosts), for many patterns in one process.

stdin: [{"file": "...", "limits": ["web:&prod", ...]}]
stdout: [{"file": "...", "error": null | "...", "limits": {"pattern": ["host", ...] | {"error": "..."}}}]
"""
import json
import sys

from ansible.errors import AnsibleError
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader

out = []
for item in json.load(sys.stdin):
    res = {"file": item["file"], "error": None, "limits": {}}
    try:
        inv = InventoryManager(loader=DataLoader(), sources=[item["file"]])
    except AnsibleError as e:
        res["error"] = str(e)
        out.append(res)
        continue
    for limit in item["limits"]:
        try:
            inv.subset(limit)
            res["limits"][limit] = [h.name for h in inv.get_hosts("all")]
        except AnsibleError as e:
            res["limits"][limit] = {"error": str(e)}
        finally:
            inv.subset(None)
            inv.clear_pattern_cache()
    out.append(res)
json.dump(out, sys.stdout)
