"""LocalFSState resolves its paths on its host (packtivity/statecontexts/posixfs_context.py):
a laptop's symbolic links never rewrite a cluster's path, and moving a state to another host
resolves the paths as given there.  The hosts are FakeHosts with their own links."""

from __future__ import annotations

from fakehost import FakeHost

from packtivity.statecontexts import LocalFSState


def test_paths_are_resolved_on_the_states_host() -> None:
    cluster = FakeHost("cluster")
    cluster.links["/scratch"] = "/gpfs/scratch"
    state = LocalFSState(["/scratch/w"], ["/scratch/in"], host=cluster)
    assert state.readwrite == ["/gpfs/scratch/w"] and state.readonly == ["/gpfs/scratch/in"]
    assert state.dirnames == {"workdir": "/gpfs/scratch/w", "readdir0": "/gpfs/scratch/in"}
    assert cluster.commands == []  # FakeHost resolves without commands; SshHost uses one


def test_moving_a_state_resolves_the_given_paths_on_the_new_host() -> None:
    laptop, cluster = FakeHost("laptop"), FakeHost("cluster")
    laptop.links["/tmp"] = "/private/tmp"  # as on macOS
    built_here = LocalFSState(["/tmp/run"], host=laptop)
    assert built_here.readwrite == ["/private/tmp/run"]
    there = built_here.on_host(cluster)
    assert there.readwrite == ["/tmp/run"] and there.host is cluster
    assert there.json()["readwrite"] == [{"path": "/tmp/run", "name": "workdir"}]


def test_relative_paths_are_relative_to_the_hosts_directory() -> None:
    cluster = FakeHost("cluster")
    cluster.cwd = "/home/user"
    assert LocalFSState(["work"], host=cluster).readwrite == ["/home/user/work"]


def test_reset_and_ensure_go_through_the_host() -> None:
    cluster = FakeHost("cluster")
    state = LocalFSState(["/w"], host=cluster)
    state.ensure()
    cluster.write_text("/w/old.txt", "x")
    state.reset()
    assert "/w/old.txt" not in cluster.files
    assert {"/w", "/w/_packtivity"} <= cluster.dirs
