import pytest

from jhdeploy.userlist import UserlistError, parse


def test_names_admins_comments_and_blank_lines():
    users = parse("# staff\njovyan admin\n\n   \nalice   # a student\nbob admin # teacher\n")
    assert users.allowed == {"jovyan", "alice", "bob"}
    assert users.admins == {"jovyan", "bob"}


def test_empty_file_means_nobody():
    assert parse("").allowed == frozenset()


@pytest.mark.parametrize(
    ("text", "line", "detail"),
    [
        ("alice\nbob Superuser\n", 2, "expected 'name [admin] [group ...]'"),
        ("alice\n\nBob\n", 3, "not a valid user name"),
        ("alice admin extra!\n", 1, "expected 'name [admin] [group ...]'"),
        ("alice ml admin\n", 1, "'admin' only right after the name"),
    ],
)
def test_malformed_line_is_an_error_naming_its_line(text, line, detail):
    with pytest.raises(UserlistError) as error:
        parse(text)
    assert f"line {line}:" in str(error.value)
    assert detail in str(error.value)
