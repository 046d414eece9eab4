"""Black-box tests of the admin tool, build/gasket: `gasket passwd` with the
password on stdin writes a 0600 file whose line verifies under an independent
PBKDF2-HMAC-SHA512 check written here with hashlib; replacing and deleting
keep the other lines; -r writes a dashboard role that a new password keeps;
usage errors exit 2, other errors 1."""
import base64
import hashlib
import os
import stat
import subprocess

import pytest

BUILD = (os.path.dirname(os.path.abspath(os.environ["GASKETD"]))
         if os.environ.get("GASKETD")
         else os.path.join(os.path.dirname(__file__), "..", "..", "build"))
GASKET = os.path.join(BUILD, "gasket")


def gasket(*args, stdin=""):
    return subprocess.run([GASKET, *map(str, args)], input=stdin.encode(),
                          capture_output=True, timeout=60)


def verify(line, user, password):
    """Checks a password-file line as Mosquitto does, without gasket's code."""
    name, _, rest = line.partition(":")
    rest = rest.partition(":")[0]  # a dashboard role field follows the hash
    empty, kind, iterations, salt, digest = rest.split("$")
    assert (empty, kind) == ("", "7")
    want = base64.b64decode(digest, validate=True)
    assert len(want) == 64
    got = hashlib.pbkdf2_hmac("sha512", password.encode(),
                              base64.b64decode(salt, validate=True),
                              int(iterations))
    return name == user and got == want


def lines(path):
    return path.read_text().splitlines()


def entry(path, user):
    found = [ln for ln in lines(path) if ln.startswith(user + ":")]
    assert len(found) == 1, found
    return found[0]


def test_passwd_creates_0600_file_that_verifies(tmp_path):
    pw = tmp_path / "passwd"
    r = gasket("passwd", pw, "alice", stdin="s3cret pass\n")
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(pw.stat().st_mode) == 0o600
    line = entry(pw, "alice")
    assert line.startswith("alice:$7$50000$")
    salt = line.split("$")[3]
    assert len(base64.b64decode(salt)) == 12
    assert verify(line, "alice", "s3cret pass")
    assert not verify(line, "alice", "s3cret pass\n")
    assert not verify(line, "alice", "wrong")
    assert sorted(os.listdir(tmp_path)) == ["passwd"]  # no temporary file left


def test_passwd_without_newline_and_crlf(tmp_path):
    pw = tmp_path / "passwd"
    assert gasket("passwd", pw, "a", stdin="no newline").returncode == 0
    assert gasket("passwd", pw, "b", stdin="dos\r\n").returncode == 0
    assert verify(entry(pw, "a"), "a", "no newline")
    assert verify(entry(pw, "b"), "b", "dos")


def test_passwd_iterations_option(tmp_path):
    pw = tmp_path / "passwd"
    r = gasket("passwd", "-i", 1000, pw, "bob", stdin="pw\n")
    assert r.returncode == 0, r.stderr
    line = entry(pw, "bob")
    assert line.startswith("bob:$7$1000$")
    assert verify(line, "bob", "pw")


def test_passwd_replace_keeps_other_lines_and_mode(tmp_path):
    pw = tmp_path / "passwd"
    assert gasket("passwd", "-i", 1000, pw, "alice", stdin="one\n").returncode == 0
    assert gasket("passwd", "-i", 1000, pw, "bob", stdin="bob's\n").returncode == 0
    with open(pw, "a") as f:
        f.write("# a comment the tool must keep\n")
    os.chmod(pw, 0o640)
    r = gasket("passwd", "-i", 1000, pw, "alice", stdin="two\n")
    assert r.returncode == 0, r.stderr
    got = lines(pw)
    assert len(got) == 3
    assert got[2] == "# a comment the tool must keep"
    assert verify(entry(pw, "alice"), "alice", "two")
    assert not verify(entry(pw, "alice"), "alice", "one")
    assert verify(entry(pw, "bob"), "bob", "bob's")
    assert stat.S_IMODE(pw.stat().st_mode) == 0o640


def test_passwd_delete(tmp_path):
    pw = tmp_path / "passwd"
    for user in ("alice", "bob", "carol"):
        assert gasket("passwd", "-i", 1000, pw, user, stdin=user + "\n").returncode == 0
    r = gasket("passwd", "-D", pw, "bob")
    assert r.returncode == 0, r.stderr
    assert [ln.split(":")[0] for ln in lines(pw)] == ["alice", "carol"]
    assert verify(entry(pw, "carol"), "carol", "carol")
    r = gasket("passwd", "-D", pw, "bob")
    assert r.returncode == 1
    assert b'no user "bob"' in r.stderr
    r = gasket("passwd", "-D", tmp_path / "missing", "bob")
    assert r.returncode == 1
    assert b"No such file" in r.stderr


def test_passwd_role(tmp_path):
    pw = tmp_path / "users"
    assert gasket("passwd", "-i", 1000, "-r", "admin", pw, "alice", stdin="a\n").returncode == 0
    assert gasket("passwd", "-i", 1000, pw, "bob", stdin="b\n").returncode == 0
    assert entry(pw, "alice").endswith(":admin") and verify(entry(pw, "alice"), "alice", "a")
    assert entry(pw, "bob").count(":") == 1  # no role: a viewer
    # a new password without -r keeps the role; -r replaces it
    assert gasket("passwd", "-i", 1000, pw, "alice", stdin="a2\n").returncode == 0
    assert entry(pw, "alice").endswith(":admin") and verify(entry(pw, "alice"), "alice", "a2")
    assert gasket("passwd", "-i", 1000, "-r", "viewer", pw, "alice", stdin="a3\n").returncode == 0
    assert entry(pw, "alice").endswith(":viewer") and verify(entry(pw, "alice"), "alice", "a3")
    assert [ln.split(":")[0] for ln in lines(pw)] == ["alice", "bob"]


def test_mosquitto_line_kept_and_replaced(tmp_path):
    pw = tmp_path / "passwd"
    mosq = ("alice:$7$101$2UdQvVHxMM4hD7/H$jwL0N/FzGRycep3okKRUBmz/o4PdQ28HVidc"
            "BRl2xj8aMUFt/LGLJgjTqWJocz3JXWWJnYFbOBYn9Ti+Kh9J4g==")
    pw.write_text(mosq + "\n")
    assert verify(mosq, "alice", "s3cret pass")  # the checker agrees with Mosquitto
    assert gasket("passwd", pw, "bob", stdin="x\n").returncode == 0
    assert lines(pw)[0] == mosq


@pytest.mark.parametrize("args,stdin", [
    ((), ""),
    (("passwd",), ""),
    (("passwd", "only-file"), ""),
    (("passwd", "f", "u", "extra"), "pw\n"),
    (("passwd", "-x", "f", "u"), "pw\n"),
    (("passwd", "-i", "10", "f", "u"), "pw\n"),
    (("passwd", "-i", "abc", "f", "u"), "pw\n"),
    (("passwd", "-i"), ""),
    (("passwd", "-D", "-i", "1000", "f", "u"), ""),
    (("passwd", "-D", "-r", "admin", "f", "u"), ""),
    (("passwd", "-r", "root", "f", "u"), "pw\n"),
    (("passwd", "-r"), ""),
    (("frobnicate",), ""),
    (("help", "frobnicate"), ""),
])
def test_usage_errors_exit_2(tmp_path, args, stdin):
    r = subprocess.run([GASKET, *args], input=stdin.encode(), capture_output=True,
                       cwd=tmp_path, timeout=60)
    assert r.returncode == 2, (args, r.stderr)
    assert b"usage: gasket" in r.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("user,stdin,msg", [
    ("a:b", "pw\n", b"invalid user name"),
    ("#x", "pw\n", b"invalid user name"),
    ("ok", "\n", b"empty password"),
    ("ok", "", b"empty password"),
    ("ok", "x" * 5000 + "\n", b"cannot read the password"),
])
def test_errors_exit_1(tmp_path, user, stdin, msg):
    pw = tmp_path / "passwd"
    r = gasket("passwd", pw, user, stdin=stdin)
    assert r.returncode == 1
    assert msg in r.stderr
    assert not pw.exists()


def test_unwritable_directory(tmp_path):
    r = gasket("passwd", tmp_path / "no" / "dir" / "passwd", "u", stdin="pw\n")
    assert r.returncode == 1
    assert b"No such file" in r.stderr


def test_help():
    r = gasket("--help")
    assert r.returncode == 0
    assert b"passwd" in r.stdout
    r = gasket("help", "passwd")
    assert r.returncode == 0
    assert b"-D" in r.stdout and b"0600" in r.stdout
    r = gasket("passwd", "-h")
    assert r.returncode == 0
    assert b"usage: gasket passwd" in r.stdout
