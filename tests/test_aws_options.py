"""One set of AWS credentials options (saasbridge/cli/aws_options.py): every command that touches
SageMaker has the same group with the same help, a wrong --role-arn is one line naming the wrong
part, and AWS_REGION alone names the region."""

from __future__ import annotations

import argparse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saasbridge.cli import build_parser, main
from saasbridge.cli.aws_options import GROUP_TITLE, aws_access
from saasbridge.errors import ConfigError
from saasbridge.sagemaker.credentials import check_role_arn

# The commands that call SageMaker (`sagemaker approve` and `approvals` only write to the SaaS).
SAGEMAKER_COMMANDS = {("sagemaker", "import"), ("sagemaker", "sync"), ("sagemaker", "deploy"), ("sagemaker", "serve"),
                      ("sagemaker", "status"), ("train",), ("predict",), ("models", "import")}  # fmt: skip
OPTIONS = ["--region", "--profile", "--role-arn", "--external-id", "--web-identity-token-file", "--group",
           "--group-roles"]  # fmt: skip


def parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, parser) of every sub-command, recursively."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from parsers(sub, (*path, name))


def aws_group(parser: argparse.ArgumentParser):
    return next((g for g in parser._action_groups if g.title == GROUP_TITLE), None)


def described(group) -> list[tuple]:
    """The group as --help shows it: options, metavar, help."""
    return [(tuple(a.option_strings), a.metavar, a.help) for a in group._group_actions]


def test_every_sagemaker_command_has_the_same_credentials_group():
    found = dict(parsers(build_parser()))
    wanted = SAGEMAKER_COMMANDS
    assert wanted <= found.keys()
    reference = None
    for path in sorted(wanted):
        group = aws_group(found[path])
        assert group is not None, f"saasbridge {' '.join(path)} lacks the {GROUP_TITLE} group"
        assert [a.option_strings[0] for a in group._group_actions] == OPTIONS, path
        reference = reference or (group.description, described(group))
        assert (group.description, described(group)) == reference, f"saasbridge {' '.join(path)} shows it differently"
    for path, parser in found.items():  # and a command with any of these options has the whole group
        if any("--role-arn" in a.option_strings for a in parser._actions):
            assert path in wanted, f"saasbridge {' '.join(path)} takes --role-arn: list it above"


def test_help_shows_the_group_the_same_way(capsys):
    shown = []
    for argv in (["sagemaker", "import"], ["sagemaker", "serve"], ["models", "import"]):
        with pytest.raises(SystemExit):
            main([*argv, "--help"])
        text = capsys.readouterr().out
        shown.append(text[text.index(GROUP_TITLE):].split("\n\n")[0])
    assert shown[0] == shown[1] == shown[2]


@pytest.mark.parametrize(
    ("arn", "part"),
    [
        ("role/scoring", "not an ARN"),
        ("arn:aws:iam:123456789012:role/scoring", "not an ARN"),
        ("arn:awz:iam::123456789012:role/scoring", "the partition 'awz'"),
        ("arn:aws:sts::123456789012:role/scoring", "the service is 'sts'"),
        ("arn:aws:iam:us-east-1:123456789012:role/scoring", "the region part must be empty"),
        ("arn:aws:iam::12345678901:role/scoring", "the account '12345678901' is not 12 digits"),
        ("arn:aws:iam::123456789012:user/scoring", "the resource 'user/scoring' is not role/NAME"),
        ("arn:aws:iam::123456789012:role/", "is not role/NAME"),
        ("arn:aws:iam::123456789012:role/bad name", "is not role/NAME"),
    ],
)
def test_a_wrong_role_arn_names_the_wrong_part(arn, part, capsys):
    with pytest.raises(ConfigError, match=part):
        check_role_arn(arn)
    assert main(["sagemaker", "import", "--model", "m", "--role-arn", arn]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and part in err and "arn:aws:iam::123456789012:role/NAME" in err


@given(account=st.from_regex(r"\d{12}", fullmatch=True), path=st.from_regex(r"(/[a-z0-9]{1,8}){0,2}", fullmatch=True),
       name=st.from_regex(r"[A-Za-z0-9+=,.@_-]{1,64}", fullmatch=True),
       partition=st.sampled_from(["aws", "aws-cn", "aws-us-gov"]))  # fmt: skip
def test_valid_role_arns_pass(account, path, name, partition):
    arn = f"arn:{partition}:iam::{account}:role{path}/{name}"
    assert check_role_arn(arn) == arn


def args_for(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["sagemaker", "import", "--model", "m", *argv])


def test_aws_region_alone_names_the_region(aws_env, monkeypatch):
    from saasbridge.cli.aws_options import aws_session_from_args

    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    session = aws_session_from_args(args_for())
    assert session.region_name == "eu-central-1"
    assert session.client("sagemaker").meta.region_name == "eu-central-1"
    assert aws_session_from_args(args_for("--region", "ap-south-1")).region_name == "ap-south-1"  # the option wins


def test_option_combinations_are_checked_before_any_call(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    (tmp_path / "config").write_text("[profile analytics]\nregion = eu-west-1\n")
    with pytest.raises(ConfigError, match="--external-id goes with --role-arn"):
        aws_access(args_for("--external-id", "x"))
    with pytest.raises(ConfigError, match="--web-identity-token-file .*: no such file"):
        aws_access(args_for("--role-arn", "arn:aws:iam::123456789012:role/r", "--web-identity-token-file",
                            str(tmp_path / "none")))  # fmt: skip
    with pytest.raises(ConfigError, match="group 'sales' has no AWS role mapped"):
        aws_access(args_for("--group", "sales", "--group-roles", "ds=arn:aws:iam::123456789012:role/ds"))
    from saasbridge.cli.aws_options import aws_session_from_args

    assert aws_session_from_args(args_for("--profile", "analytics")).region_name == "eu-west-1"
    with pytest.raises(ConfigError, match="AWS profile 'nope' is not in the shared AWS config files"):
        aws_session_from_args(args_for("--profile", "nope"))
