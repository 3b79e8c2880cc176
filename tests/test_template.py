"""Offline validation of template.yaml: aws-sam-translator turns it into CloudFormation for every
parameter combination that changes resources, the combination's conditions are resolved the way
CloudFormation resolves them, and cfn-lint finds no error or warning in the source or the result.
Each resolved template is then checked against the parameters that produced it (least privilege,
registration, VPC, KMS, role, spill bucket)."""

from __future__ import annotations

import copy
import fnmatch
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from saasbridge.build.lambda_package import PACKAGED_CATALOG

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
NO_VALUE = {"Ref": "AWS::NoValue"}
REGION = "us-east-1"

EXISTING_ROLE = "arn:aws:iam::123456789012:role/existing-saasbridge-role"
KMS_KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
SUBNETS = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
SECURITY_GROUPS = ["sg-0123456789abcdef0"]
BASE = {"ApiBaseUrl": "https://api.example.com/v1", "SecretName": "saasbridge/api-key"}

# Every combination of the parameters that add or remove resources or statements.
COMBOS = [
    dict(zip(("vpc", "kms", "role", "bucket"), flags, strict=True))
    for flags in itertools.product((False, True), repeat=4)
]


def combo_id(combo: dict[str, bool]) -> str:
    return "-".join(name if on else f"no{name}" for name, on in combo.items())


def parameters_for(combo: dict[str, bool]) -> dict[str, Any]:
    params: dict[str, Any] = dict(BASE)
    if combo["vpc"]:
        params["SubnetIds"] = SUBNETS
        params["SecurityGroupIds"] = SECURITY_GROUPS
    if combo["kms"]:
        params["KMSKeyId"] = KMS_KEY
    if combo["role"]:
        params["LambdaRoleARN"] = EXISTING_ROLE
    if combo["bucket"]:
        params["SpillBucket"] = "my-existing-spill-bucket"
    return params


# ---------------------------------------------------------------- a small CloudFormation resolver


def load_source() -> dict:
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(TEMPLATE.read_text())


def parameter_values(template: dict, given: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, spec in template["Parameters"].items():
        value = given.get(name, spec.get("Default"))
        if spec["Type"] == "CommaDelimitedList" and isinstance(value, str):
            value = value.split(",") if value else [""]
        values[name] = value
    values.update({"AWS::Region": REGION, "AWS::AccountId": "123456789012", "AWS::Partition": "aws"})
    return values


def evaluate(node: Any, values: dict[str, Any], conditions: dict[str, Any]) -> Any:
    """The value of a condition expression (Equals/Not/And/Or/Condition over Ref and Join)."""
    if isinstance(node, dict) and len(node) == 1:
        (key, arg), = node.items()
        if key == "Ref":
            return values[arg]
        if key == "Condition":
            return evaluate(conditions[arg], values, conditions)
        if key == "Fn::Join":
            parts = evaluate(arg[1], values, conditions)
            return arg[0].join(str(p) for p in parts)
        if key == "Fn::Equals":
            a, b = (evaluate(x, values, conditions) for x in arg)
            return str(a) == str(b)
        if key == "Fn::Not":
            return not evaluate(arg[0], values, conditions)
        if key == "Fn::And":
            return all(evaluate(x, values, conditions) for x in arg)
        if key == "Fn::Or":
            return any(evaluate(x, values, conditions) for x in arg)
    if isinstance(node, list):
        return [evaluate(x, values, conditions) for x in node]
    return node


def resolve_ifs(node: Any, truth: dict[str, bool]) -> Any:
    """Replace each Fn::If by its chosen branch and drop what resolves to AWS::NoValue."""
    if isinstance(node, dict):
        if len(node) == 1 and "Fn::If" in node:
            name, when_true, when_false = node["Fn::If"]
            return resolve_ifs(when_true if truth[name] else when_false, truth)
        out = {}
        for key, value in node.items():
            value = resolve_ifs(value, truth)
            if value != NO_VALUE:
                out[key] = value
        return out
    if isinstance(node, list):
        return [v for v in (resolve_ifs(x, truth) for x in node) if v != NO_VALUE]
    return node


def resolve_for(template: dict, given: dict[str, Any]) -> dict:
    """The template CloudFormation would deploy for these parameter values: conditions applied,
    parameters defaulting to the given values (so cfn-lint checks them)."""
    template = copy.deepcopy(template)
    values = parameter_values(template, given)
    conditions = template.pop("Conditions", {})
    truth = {name: bool(evaluate(expr, values, conditions)) for name, expr in conditions.items()}
    template.pop("Rules", None)
    for section in ("Resources", "Outputs"):
        for name in list(template.get(section, {})):
            item = template[section][name]
            if "Condition" in item and not truth[item.pop("Condition")]:
                del template[section][name]
    template = resolve_ifs(template, truth)
    # A parameter that only fed a condition is unused once the conditions are applied.
    body = json.dumps({k: v for k, v in template.items() if k != "Parameters"})
    for name in list(template["Parameters"]):
        if f'{{"Ref": "{name}"}}' not in body and "${" + name + "}" not in body:
            del template["Parameters"][name]
    interface = template.get("Metadata", {}).get("AWS::CloudFormation::Interface", {})
    for group in interface.get("ParameterGroups", []):
        group["Parameters"] = [p for p in group["Parameters"] if p in template["Parameters"]]
    for name, spec in template["Parameters"].items():
        if name in given:  # lint the combination's values, not the defaults
            value = given[name]
            spec["Default"] = ",".join(value) if isinstance(value, list) else value
    return template


def translate(source: dict, given: dict[str, Any]) -> dict:
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:  # the template uses no managed-policy names
        def load(self) -> dict[str, str]:
            return {}

    source = copy.deepcopy(source)  # the translator edits its input
    # The translator rejects local paths; `sam package` would put an S3 URI here.
    assert source["Globals"]["Function"]["CodeUri"] == "build/lambda/deploy.zip"
    source["Globals"]["Function"]["CodeUri"] = "s3://example-bucket/saasbridge/deploy.zip"
    return transform(source, dict(given), NoManagedPolicies())


def lint(template: dict | str) -> list[str]:
    from cfnlint.api import ManualArgs, lint

    text = template if isinstance(template, str) else json.dumps(template, indent=1)
    return [str(m) for m in lint(text, config=ManualArgs(regions=[REGION]))]


@pytest.fixture(autouse=True)
def _region(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


# ---------------------------------------------------------------- tests


def test_source_template_lints_clean():
    assert lint(TEMPLATE.read_text()) == []


def test_parameters_and_environment_are_the_documented_names():
    source = load_source()
    assert set(source["Parameters"]) - SCORING_PARAMETERS == {
        "AthenaCatalogName", "SpillBucket", "SpillPrefix", "DisableSpillEncryption", "KMSKeyId",
        "LambdaTimeout", "LambdaMemory", "PermissionsBoundaryARN", "SubnetIds", "SecurityGroupIds",
        "LambdaRoleARN", "ApiBaseUrl", "SecretName", "ReservedConcurrency", "AppFlowConnectorLabel",
        "LogRetentionDays", "Architectures", "SharedRateBudget",
        "ModelLogSync", "ModelLogSchedule", "ModelLogTags",  # the optional model-log sync
        "ModelLogGate", "ModelLogGateBucket", "ModelLogGatePrefix",  # and its deployment gate
    }
    assert source["Parameters"]["Architectures"]["Default"] == "arm64"
    assert set(source["Parameters"]["Architectures"]["AllowedValues"]) == {"arm64", "x86_64"}
    athena_env = source["Resources"]["AthenaConnectorFunction"]["Properties"]["Environment"]["Variables"]
    assert {"SAASBRIDGE_API_URL", "SAASBRIDGE_SECRET_ARN", "spill_bucket", "spill_prefix",
            "disable_spill_encryption", "kms_key_id"} <= set(athena_env)


def test_catalog_name_pattern_accepts_only_lower_case():
    import re

    pattern = load_source()["Parameters"]["AthenaCatalogName"]["AllowedPattern"]
    assert re.fullmatch(pattern, "saasbridge_crm-1")
    for bad in ("SaasBridge", "saas bridge", "", "x" * 57, "a.b"):
        assert not re.fullmatch(pattern, bad), bad


def test_sar_metadata_points_at_files_next_to_the_template():
    meta = load_source()["Metadata"]["AWS::ServerlessRepo::Application"]
    for key in ("Name", "Description", "Author", "SpdxLicenseId", "SemanticVersion"):
        assert meta[key]
    for key in ("LicenseUrl", "ReadmeUrl"):
        assert (TEMPLATE.parent / meta[key]).is_file(), meta[key]


def test_vpc_rule_needs_security_groups_with_subnets():
    source = load_source()
    rule = source["Rules"]["VpcNeedsSubnetsAndSecurityGroups"]
    conditions = source["Conditions"]

    def holds(given):
        values = parameter_values(source, {**BASE, **given})
        if not evaluate(rule["RuleCondition"], values, conditions):
            return True
        return all(evaluate(a["Assert"], values, conditions) for a in rule["Assertions"])

    assert holds({})
    assert holds({"SubnetIds": SUBNETS, "SecurityGroupIds": SECURITY_GROUPS})
    assert not holds({"SubnetIds": SUBNETS})


def test_sample_events_are_protocol_requests():
    events = sorted((ROOT / "sam" / "events").glob("*.json"))
    assert {e.name.split("-")[0] for e in events} == {"athena", "appflow"}
    for path in events:
        event = json.loads(path.read_text())
        kind = event.get("@type") if path.name.startswith("athena") else event.get("type")
        assert kind and kind.endswith("Request"), path.name


@pytest.mark.parametrize("combo", COMBOS, ids=combo_id)
def test_translated_template_for_combination(combo):
    given = parameters_for(combo)
    translated = translate(load_source(), given)
    resolved = resolve_for(translated, given)
    assert lint(resolved) == []
    check_resources(resolved, combo, given)
    assert without_budget(resolved) == resolved  # the shared budget is off unless asked for


# ---------------------------------------------------------------- what each combination must contain


def statements(role: dict, resources: dict) -> list[dict]:
    """The role's inline statements and those of the template's managed policies it attaches."""
    props = role["Properties"]
    docs = [p["PolicyDocument"] for p in props["Policies"]]
    docs += [resources[arn["Ref"]]["Properties"]["PolicyDocument"] for arn in props.get("ManagedPolicyArns", [])]
    return [s for doc in docs for s in doc["Statement"]]


def actions(statement: dict) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def subs(value: Any) -> str:
    """The text of a resource ARN (Fn::Sub template or literal) for containment checks."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        if isinstance(sub, list):
            text, variables = sub
            for name, var in variables.items():
                text = text.replace("${" + name + "}", json.dumps(var, sort_keys=True))
            return text
        return sub
    return json.dumps(value, sort_keys=True) if not isinstance(value, str) else value


# Actions whose IAM resource type does not exist or cannot be narrowed; anything else must be scoped.
UNSCOPABLE = {
    "kms:GenerateRandom", "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
}


def check_resources(t: dict, combo: dict[str, bool], given: dict[str, Any]) -> None:
    res = t["Resources"]
    functions = {n: r for n, r in res.items() if r["Type"] == "AWS::Lambda::Function"}
    assert set(functions) == {"AthenaConnectorFunction", "AppFlowConnectorFunction"}
    athena, appflow = res["AthenaConnectorFunction"]["Properties"], res["AppFlowConnectorFunction"]["Properties"]
    assert athena["Handler"] == "athena_connector.handler.lambda_handler"
    assert appflow["Handler"] == "appflow_connector.handler.lambda_handler"
    for fn in (athena, appflow):
        assert fn["Runtime"] == "python3.12"
        assert fn["Architectures"] == [{"Ref": "Architectures"}]
        assert fn["Code"] == athena["Code"]  # one code package
        assert fn["MemorySize"] == {"Ref": "LambdaMemory"}
        assert ("VpcConfig" in fn) == combo["vpc"]
        if combo["vpc"]:
            assert fn["VpcConfig"] == {"SubnetIds": {"Ref": "SubnetIds"}, "SecurityGroupIds": {"Ref": "SecurityGroupIds"}}
        # ReservedConcurrency defaults to 0, which means "not reserved".
        assert "ReservedConcurrentExecutions" not in fn
        # Both serve the catalog `saasbridge package` put at the root of the code (/var/task).
        assert fn["Environment"]["Variables"]["SAASBRIDGE_CATALOG"] == f"/var/task/{PACKAGED_CATALOG}"

    env = athena["Environment"]["Variables"]
    assert env["SAASBRIDGE_API_URL"] == {"Ref": "ApiBaseUrl"}
    assert env["SAASBRIDGE_SECRET_ARN"] == {"Ref": "SecretName"}
    assert env["spill_prefix"] == {"Ref": "SpillPrefix"}
    assert env["disable_spill_encryption"] == {"Ref": "DisableSpillEncryption"}
    assert ("kms_key_id" in env) == combo["kms"]
    # KMSKeyId also encrypts both functions' environment variables and log groups (checkov CKV_AWS_173/158).
    key_arn = {"Fn::Sub": "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/${KMSKeyId}"}
    for fn in (athena, appflow):
        assert fn.get("KmsKeyArn") == (key_arn if combo["kms"] else None)
    for group in ("AthenaConnectorLogGroup", "AppFlowConnectorLogGroup"):
        assert res[group]["Properties"].get("KmsKeyId") == (key_arn if combo["kms"] else None)
    created_bucket = not combo["bucket"]
    assert ("SpillBucketResource" in res) == created_bucket
    assert ("SpillBucketPolicy" in res) == created_bucket
    bucket_ref = {"Ref": "SpillBucketResource"} if created_bucket else {"Ref": "SpillBucket"}
    assert env["spill_bucket"] == bucket_ref
    if created_bucket:
        rules = res["SpillBucketResource"]["Properties"]["LifecycleConfiguration"]["Rules"]
        assert any(r["Status"] == "Enabled" and r.get("ExpirationInDays") for r in rules)

    roles = {n: r for n, r in res.items() if r["Type"] == "AWS::IAM::Role"}
    if combo["role"]:
        assert roles == {}
        # The translator substitutes the parameter's value into Role, as CloudFormation's transform does.
        assert athena["Role"] == appflow["Role"] == given["LambdaRoleARN"]
    else:
        assert set(roles) == {"AthenaConnectorRole", "AppFlowConnectorRole"}
        assert athena["Role"] == {"Fn::GetAtt": ["AthenaConnectorRole", "Arn"]}
        assert appflow["Role"] == {"Fn::GetAtt": ["AppFlowConnectorRole", "Arn"]}
        check_athena_role(statements(roles["AthenaConnectorRole"], res), combo, bucket_ref)
        check_appflow_role(statements(roles["AppFlowConnectorRole"], res), combo)
        for role in roles.values():
            assert "PermissionsBoundary" not in role["Properties"]  # default: none
            for st in statements(role, res):
                if st["Resource"] == "*":
                    assert actions(st) <= UNSCOPABLE, st

    # Registration: Athena catalog and AppFlow connector, both LAMBDA, both pointing at the functions.
    catalog = res["AthenaDataCatalog"]["Properties"]
    assert catalog["Type"] == "LAMBDA"
    assert catalog["Parameters"] == {"function": {"Fn::GetAtt": ["AthenaConnectorFunction", "Arn"]}}
    connector = res["AppFlowConnector"]
    assert connector["Properties"]["ConnectorProvisioningType"] == "LAMBDA"
    assert connector["Properties"]["ConnectorProvisioningConfig"]["Lambda"]["LambdaArn"] == {
        "Fn::GetAtt": ["AppFlowConnectorFunction", "Arn"]}
    assert "AppFlowInvokePermission" in connector["DependsOn"]
    permissions = [r["Properties"] for r in res.values() if r["Type"] == "AWS::Lambda::Permission"]
    assert len(permissions) == 1
    permission = permissions[0]
    assert permission["Principal"] == "appflow.amazonaws.com"
    assert permission["FunctionName"] == {"Fn::GetAtt": ["AppFlowConnectorFunction", "Arn"]}
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert permission["SourceArn"] == {"Fn::Sub": "arn:${AWS::Partition}:appflow:${AWS::Region}:${AWS::AccountId}:*"}

    # Log groups with retention, named after the functions.
    groups = {r["Properties"]["LogGroupName"]["Fn::Sub"]: r["Properties"] for r in res.values()
              if r["Type"] == "AWS::Logs::LogGroup"}
    assert set(groups) == {"/aws/lambda/${AthenaCatalogName}", "/aws/lambda/${AthenaCatalogName}-appflow"}
    assert all(g["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups.values())

    # No hard-coded partition anywhere: every ARN is built with ${AWS::Partition}.
    text = json.dumps(t).replace(EXISTING_ROLE, "")
    assert "arn:aws:" not in text
    assert {"AthenaConnectorFunctionArn", "AppFlowConnectorFunctionArn", "AthenaCatalogName",
            "ExampleQuery", "AppFlowConnectorLabel"} <= set(t["Outputs"])


def check_athena_role(sts: list[dict], combo: dict[str, bool], bucket_ref: dict) -> None:
    by_action: dict[str, list[dict]] = {}
    for st in sts:
        assert st["Effect"] == "Allow"
        for action in actions(st):
            by_action.setdefault(action, []).append(st)
    expected = {"logs:CreateLogStream", "logs:PutLogEvents", "s3:PutObject", "s3:GetObject",
                "s3:ListBucket", "athena:GetQueryExecution", "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"}
    if combo["kms"]:
        expected |= {"kms:GenerateDataKey", "kms:GenerateRandom"}
    if combo["vpc"]:
        expected |= UNSCOPABLE - {"kms:GenerateRandom"}
    assert set(by_action) == expected
    bucket = json.dumps(bucket_ref, sort_keys=True)
    for action in ("s3:PutObject", "s3:GetObject"):
        (st,) = by_action[action]
        assert subs(st["Resource"]) == f"arn:${{AWS::Partition}}:s3:::{bucket}/${{SpillPrefix}}/*"
    (listing,) = by_action["s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": {"Fn::Sub": "${SpillPrefix}/*"}}}
    (secret,) = by_action["secretsmanager:GetSecretValue"]
    assert subs(secret["Resource"]).endswith(":secret:${SecretName}-??????")
    assert by_action["secretsmanager:PutSecretValue"] == [secret]  # only that secret: rotated refresh tokens
    assert by_action["secretsmanager:UpdateSecretVersionStage"] == [secret]  # written on the version read
    if combo["kms"]:
        (key,) = by_action["kms:GenerateDataKey"]
        assert subs(key["Resource"]).endswith(":key/${KMSKeyId}")
    for st in by_action["logs:PutLogEvents"]:
        assert subs(st["Resource"]).endswith(":log-group:/aws/lambda/${AthenaCatalogName}:*")


def check_appflow_role(sts: list[dict], combo: dict[str, bool]) -> None:
    acts = set().union(*(actions(st) for st in sts))
    expected = {"logs:CreateLogStream", "logs:PutLogEvents", "secretsmanager:GetSecretValue"}
    if combo["vpc"]:
        expected |= UNSCOPABLE - {"kms:GenerateRandom"}
    assert acts == expected  # no spill, Athena or KMS rights for the AppFlow function
    (secret,) = [st for st in sts if "secretsmanager:GetSecretValue" in actions(st)]
    assert subs(secret["Resource"]).endswith(":secret:appflow!${AWS::AccountId}-${AppFlowConnectorLabel}-*")


# ---------------------------------------------------------------- the shared API budget (issue 14)

BUDGET_ACTIONS = {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:BatchGetItem"}


def without_budget(t: dict) -> dict:
    """`t` less the table, its output and policy, the functions' SAASBRIDGE_BUDGET_TABLE and the
    roles' attachments of that policy."""
    t = copy.deepcopy(t)
    for name in ("SharedRateBudgetTable", "SharedRateBudgetPolicy"):
        t["Resources"].pop(name, None)
    t.get("Outputs", {}).pop("SharedRateBudgetTable", None)
    for resource in t["Resources"].values():
        props = resource["Properties"]
        props.get("Environment", {}).get("Variables", {}).pop("SAASBRIDGE_BUDGET_TABLE", None)
        if "ManagedPolicyArns" in props:
            props["ManagedPolicyArns"] = [a for a in props["ManagedPolicyArns"] if a != {"Ref": "SharedRateBudgetPolicy"}]
    return t


@pytest.mark.parametrize("role", [False, True], ids=["roles", "existing-role"])
def test_shared_rate_budget_adds_a_table_and_only_what_reaches_it(role):
    combo = {"vpc": False, "kms": False, "role": role, "bucket": False}
    off = parameters_for(combo)
    on = {**off, "SharedRateBudget": "true"}
    resolved = resolve_for(translate(load_source(), on), on)
    assert lint(resolved) == []
    # Everything else is exactly what the same parameters give without the budget.
    assert without_budget(resolved) == resolve_for(translate(load_source(), off), off)

    res = resolved["Resources"]
    table = res["SharedRateBudgetTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    for name in ("AthenaConnectorFunction", "AppFlowConnectorFunction"):
        env = res[name]["Properties"]["Environment"]["Variables"]
        assert env["SAASBRIDGE_BUDGET_TABLE"] == {"Ref": "SharedRateBudgetTable"}
    roles = [r for r in res.values() if r["Type"] == "AWS::IAM::Role"]
    assert len(roles) == (0 if role else 2)
    for r in roles:
        (st,) = [s for s in statements(r, res) if any(a.startswith("dynamodb:") for a in actions(s))]
        assert actions(st) == BUDGET_ACTIONS  # no Scan, Query, PutItem or DeleteItem
        assert st["Resource"] == {"Fn::GetAtt": ["SharedRateBudgetTable", "Arn"]}


def test_the_model_log_sync_shares_the_budget_too():
    on = {**BASE, "ModelLogSync": "true", "SharedRateBudget": "true"}
    resolved = resolve_for(translate(load_source(), on), on)
    assert lint(resolved) == []
    res = resolved["Resources"]
    env = res["ModelLogSyncFunction"]["Properties"]["Environment"]["Variables"]
    assert env["SAASBRIDGE_BUDGET_TABLE"] == {"Ref": "SharedRateBudgetTable"}
    (st,) = [s for s in statements(res["ModelLogSyncRole"], res) if s.get("Sid") == "SharedRateBudget"]
    assert actions(st) == BUDGET_ACTIONS and st["Resource"] == {"Fn::GetAtt": ["SharedRateBudgetTable", "Arn"]}
    off = {k: v for k, v in on.items() if k != "SharedRateBudget"}
    assert without_budget(resolved) == resolve_for(translate(load_source(), off), off)


def test_the_budget_table_matches_what_budget_init_creates(aws_env):
    """The template's table and `saasbridge budget init`'s have the same keys and TTL attribute."""
    import boto3

    from saasbridge.client.budget.admin import create_table

    props = load_source()["Resources"]["SharedRateBudgetTable"]["Properties"]
    create_table("template-check")
    described = boto3.client("dynamodb").describe_table(TableName="template-check")["Table"]
    assert described["KeySchema"] == props["KeySchema"]
    assert sorted(described["AttributeDefinitions"], key=str) == sorted(props["AttributeDefinitions"], key=str)
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName="template-check")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == props["TimeToLiveSpecification"]["AttributeName"]
# ---------------------------------------------------------------- the optional scoring API (issue 16)

SCORING_PARAMETERS = {"ScoringApi", "ScoringEndpoints", "ScoringRateLimit"}
SCORING_COMBOS = [
    dict(zip(("auth", "vpc", "role"), flags, strict=True))
    for flags in itertools.product(("iam", "api-key"), (False, True), (False, True))
]


@pytest.mark.parametrize("combo", SCORING_COMBOS, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_scoring_api_combination(combo):
    given = {**parameters_for({"vpc": combo["vpc"], "kms": False, "role": combo["role"], "bucket": True}),
             "ScoringApi": combo["auth"], "ScoringEndpoints": "churn-*"}  # fmt: skip
    resolved = resolve_for(translate(load_source(), given), given)
    assert lint(resolved) == []
    res = resolved["Resources"]
    fn = res["ScoringFunction"]["Properties"]
    assert fn["Handler"] == "saasbridge.sagemaker.scoring_handler.lambda_handler"
    assert fn["Environment"]["Variables"]["ALLOWED_ENDPOINTS"] == {"Ref": "ScoringEndpoints"}
    assert ("VpcConfig" in fn) == combo["vpc"]  # in the customer's VPC when SubnetIds is set
    method = res["ScoringMethod"]["Properties"]
    api_key = combo["auth"] == "api-key"
    assert method["AuthorizationType"] == ("NONE" if api_key else "AWS_IAM")
    assert method["ApiKeyRequired"] is api_key
    assert method["Integration"]["Type"] == "AWS_PROXY"
    assert {"ScoringApiKey", "ScoringUsagePlan", "ScoringUsagePlanKey"} <= set(res) if api_key else \
        not ({"ScoringApiKey", "ScoringUsagePlan"} & set(res))
    (permission,) = [r["Properties"] for r in res.values()
                     if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "apigateway.amazonaws.com"]
    assert permission["FunctionName"] == {"Fn::GetAtt": ["ScoringFunction", "Arn"]}
    assert "ScoringApiUrl" in resolved["Outputs"]
    if combo["role"]:
        assert fn["Role"] == EXISTING_ROLE and "ScoringFunctionRole" not in res
        return
    sts = statements(res["ScoringFunctionRole"], res)
    acts = set().union(*(actions(st) for st in sts))
    assert acts == {"logs:CreateLogStream", "logs:PutLogEvents", "sagemaker:InvokeEndpoint"} | (
        UNSCOPABLE - {"kms:GenerateRandom"} if combo["vpc"] else set())
    (invoke,) = [st for st in sts if "sagemaker:InvokeEndpoint" in actions(st)]
    assert subs(invoke["Resource"]).endswith(":endpoint/${ScoringEndpoints}")  # only the allowed endpoints


def test_scoring_api_is_absent_by_default():
    resolved = resolve_for(translate(load_source(), BASE), BASE)
    assert not [n for n in resolved["Resources"] if n.startswith("Scoring")]

# ---------------------------------------------------------------- the optional SageMaker model-log sync

MODEL_LOG_READS = {
    "sagemaker:DescribeModel", "sagemaker:DescribeTrainingJob", "sagemaker:DescribeTransformJob",
    "sagemaker:DescribeEndpointConfig", "sagemaker:DescribeEndpoint", "sagemaker:DescribeModelPackage",
    "sagemaker:ListModelPackages", "sagemaker:ListTags", "sagemaker:DescribeModelCard",
}
MODEL_LOG_LISTS = {
    "sagemaker:ListModels", "sagemaker:ListTrainingJobs", "sagemaker:ListTransformJobs",
    "sagemaker:ListEndpointConfigs", "sagemaker:ListEndpoints",
    "sagemaker:ListModelCards",
}


@pytest.mark.parametrize("role", [False, True], ids=["created-role", "existing-role"])
def test_model_log_sync_function_when_enabled(role):
    from saasbridge.sagemaker.lambda_sync import STATE_CHANGES

    given = {**BASE, "ModelLogSync": "true", **({"LambdaRoleARN": EXISTING_ROLE} if role else {})}
    resolved = resolve_for(translate(load_source(), given), given)
    assert lint(resolved) == []
    res = resolved["Resources"]
    fn = res["ModelLogSyncFunction"]["Properties"]
    assert fn["Handler"] == "saasbridge.sagemaker.lambda_sync.lambda_handler"
    assert fn["Code"] == res["AthenaConnectorFunction"]["Properties"]["Code"]  # the same code package
    assert fn["ReservedConcurrentExecutions"] == 1
    env = fn["Environment"]["Variables"]
    assert env["SAASBRIDGE_SECRET_ARN"] == {"Ref": "SecretName"} and env["SAASBRIDGE_MODEL_LOG_TAGS"] == {"Ref": "ModelLogTags"}
    rules = [r["Properties"] for r in res.values() if r["Type"] == "AWS::Events::Rule"]
    assert sorted("ScheduleExpression" in r for r in rules) == [False, True]
    (pattern,) = [r["EventPattern"] for r in rules if "EventPattern" in r]
    assert pattern["source"] == ["aws.sagemaker"] and set(pattern["detail-type"]) == STATE_CHANGES
    if role:
        assert "ModelLogSyncRole" not in res and fn["Role"] == EXISTING_ROLE
        return
    sts = statements(res["ModelLogSyncRole"], res)
    granted = set().union(*(actions(st) for st in sts))
    assert granted == MODEL_LOG_READS | MODEL_LOG_LISTS | {
        "logs:CreateLogStream", "logs:PutLogEvents", "secretsmanager:GetSecretValue"}
    # read-only: nothing that creates, updates or deletes; only the List actions are unscoped
    assert not any(a.split(":")[1].startswith(("Create", "Update", "Delete", "Put", "Add", "Stop")) for a in granted
                   if a.startswith("sagemaker:"))
    for st in sts:
        if st["Resource"] == "*":
            assert actions(st) == MODEL_LOG_LISTS, st
        elif actions(st) & MODEL_LOG_READS:
            assert subs(st["Resource"]) == "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:*"


def test_model_log_sync_is_absent_by_default():
    given = dict(BASE)
    resolved = resolve_for(translate(load_source(), given), given)
    assert not [n for n in resolved["Resources"] if n.startswith("ModelLogSync")]


# ---------------------------------------------------------------- one policy per concern (issue 20)

ALL_ROLES = {"AthenaConnectorRole", "AppFlowConnectorRole", "ModelLogSyncRole", "ScoringFunctionRole"}
EVERYTHING = {**parameters_for({"vpc": True, "kms": True, "role": False, "bucket": False}),
              "SharedRateBudget": "true", "ModelLogSync": "true", "ModelLogGate": "true", "ScoringApi": "iam"}


def test_each_shared_concern_is_one_managed_policy_attached_by_the_roles_that_need_it():
    text = TEMPLATE.read_text()
    assert text.count("ec2:CreateNetworkInterface") == 1 and text.count("[dynamodb:GetItem") == 1
    resolved = resolve_for(translate(load_source(), EVERYTHING), EVERYTHING)
    assert lint(resolved) == []
    res = resolved["Resources"]
    policies = {n: r for n, r in res.items() if r["Type"] == "AWS::IAM::ManagedPolicy"}
    assert set(policies) == {"VpcNetworkInterfacesPolicy", "SharedRateBudgetPolicy", "ModelLogGatePolicy"}
    attached = {name: {a["Ref"] for a in res[name]["Properties"]["ManagedPolicyArns"]} for name in ALL_ROLES}
    shared = {"VpcNetworkInterfacesPolicy", "SharedRateBudgetPolicy"}
    assert attached == {"AthenaConnectorRole": shared, "AppFlowConnectorRole": shared,
                        "ModelLogSyncRole": set(policies), "ScoringFunctionRole": {"VpcNetworkInterfacesPolicy"}}
    for name in ALL_ROLES:  # no inline copy of either concern is left
        inline = [s for p in res[name]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
        assert not [s for s in inline if s.get("Sid") in ("VpcNetworkInterfaces", "SharedRateBudget")]
    # A VPC function is created after its role, and the role after the policy it attaches (ENI rights).
    for fn in ("AthenaConnectorFunction", "AppFlowConnectorFunction", "ModelLogSyncFunction", "ScoringFunction"):
        role = res[fn]["Properties"]["Role"]["Fn::GetAtt"][0]
        assert {"Ref": "VpcNetworkInterfacesPolicy"} in res[role]["Properties"]["ManagedPolicyArns"]
        key = res[fn]["Properties"]["KmsKeyArn"]
        assert key == {"Fn::Sub": "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/${KMSKeyId}"}


def test_an_existing_role_gets_no_managed_policies():
    given = {**EVERYTHING, "LambdaRoleARN": EXISTING_ROLE}
    resolved = resolve_for(translate(load_source(), given), given)
    assert not [n for n, r in resolved["Resources"].items() if r["Type"].startswith("AWS::IAM::")]


def test_functions_share_one_key_arn_expression():
    """KMSKeyId encrypts every function's environment through Globals, not per function."""
    source = load_source()
    assert "KmsKeyArn" in source["Globals"]["Function"]
    assert not [n for n, r in source["Resources"].items() if "KmsKeyArn" in r.get("Properties", {})]


# ---------------------------------------------------------------- the deployment gate in the sync function (issue 21)

GATE_BUCKET = "gate-tests"
GATE_ON = {**BASE, "ModelLogSync": "true", "ModelLogGate": "true", "ModelLogGateBucket": GATE_BUCKET,
           "ModelLogGatePrefix": "models/test/"}


def _gate_env(res: dict) -> Any:
    return res["ModelLogSyncFunction"]["Properties"]["Environment"]["Variables"].get("SAASBRIDGE_MODEL_LOG_GATE")


@pytest.mark.parametrize("given", [
    {**BASE, "ModelLogSync": "true"},  # the default: off
    {**BASE, "ModelLogSync": "true", "ModelLogGate": "false", "ModelLogGateBucket": GATE_BUCKET},
], ids=["default", "false"])
def test_the_gate_switch_off_adds_no_policy_and_no_variable(given):
    resolved = resolve_for(translate(load_source(), given), given)
    assert lint(resolved) == []
    res = resolved["Resources"]
    assert _gate_env(res) is None and "ModelLogGatePolicy" not in res
    assert {"Ref": "ModelLogGatePolicy"} not in res["ModelLogSyncRole"]["Properties"]["ManagedPolicyArns"]


def test_the_gate_switch_needs_the_sync_function():
    given = {**GATE_ON, "ModelLogSync": "false"}
    resolved = resolve_for(translate(load_source(), given), given)
    assert not [n for n in resolved["Resources"] if n.startswith("ModelLog")]


@pytest.mark.parametrize("bucket", [True, False], ids=["test-data-bucket", "no-bucket"])
def test_the_gate_switch_on_attaches_one_policy_to_the_sync_role_only(bucket):
    given = GATE_ON if bucket else {k: v for k, v in GATE_ON.items() if not k.startswith("ModelLogGateB")}
    resolved = resolve_for(translate(load_source(), given), given)
    assert lint(resolved) == []
    res = resolved["Resources"]
    assert _gate_env(res) == "true"
    attaching = [n for n, r in res.items() if {"Ref": "ModelLogGatePolicy"} in r["Properties"].get("ManagedPolicyArns", [])]
    assert attaching == ["ModelLogSyncRole"]
    gate = res["ModelLogGatePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert bool([s for s in gate if actions(s) & {"s3:GetObject", "s3:ListBucket"}]) is bucket
    assert not [s for s in gate if s["Resource"] == "*" or "iam:PassRole" in actions(s)]  # no role is passed
    # Everything else is what the same parameters give with the switch off.
    off = {**given, "ModelLogGate": "false"}
    expected = resolve_for(translate(load_source(), off), off)
    without = copy.deepcopy(resolved)
    del without["Resources"]["ModelLogGatePolicy"]
    fn = without["Resources"]["ModelLogSyncFunction"]["Properties"]["Environment"]["Variables"]
    del fn["SAASBRIDGE_MODEL_LOG_GATE"]
    role = without["Resources"]["ModelLogSyncRole"]["Properties"]
    role["ManagedPolicyArns"].remove({"Ref": "ModelLogGatePolicy"})
    assert without["Resources"] == expected["Resources"]


def test_an_existing_role_gets_the_switch_but_no_gate_policy():
    given = {**GATE_ON, "LambdaRoleARN": EXISTING_ROLE}
    resolved = resolve_for(translate(load_source(), given), given)
    assert _gate_env(resolved["Resources"]) == "true" and "ModelLogGatePolicy" not in resolved["Resources"]


# -- every call the sync function makes with the gate on, recorded, against what its role allows ---

# The IAM action of an API operation where it is not the operation's own name (the Service
# Authorization Reference's operation tables); None: the call needs no permission.
IAM_ACTION_OF = {("s3", "HeadObject"): "s3:GetObject", ("s3", "ListObjectsV2"): "s3:ListBucket",
                 ("sts", "GetCallerIdentity"): None}
_ARN_PARAMS = (("TransformJobName", "transform-job"), ("EndpointName", "endpoint"),
               ("EndpointConfigName", "endpoint-config"))


def iam_action(service: str, operation: str) -> str | None:
    return IAM_ACTION_OF.get((service, operation), f"{service}:{operation}")


def known_iam_actions() -> set[str]:
    """Every IAM action AWS defines, lower case (the policy data cfn-lint ships, from the authorization
    reference)."""
    from cfnlint.data import AdditionalSpecs
    from cfnlint.helpers import load_resource

    data = load_resource(AdditionalSpecs, "Policies.json")
    return {f"{service}:{action}".lower() for service, spec in data.items() for action in spec.get("Actions", {})}


class CallRecorder:
    """Every AWS API call made by any boto3 client while recording: (service, operation, parameters)."""

    def __init__(self, monkeypatch):
        import botocore.session

        self.calls: list[tuple[str, str, dict]] = []
        self.on = False
        create_client = botocore.session.Session.create_client

        def recording_client(session, *args, **kwargs):
            client = create_client(session, *args, **kwargs)
            service = client.meta.service_model.signing_name

            def record(params, model, **_):
                if self.on:
                    self.calls.append((service, model.name, dict(params)))

            client.meta.events.register("provide-client-params", record)
            return client

        monkeypatch.setattr(botocore.session.Session, "create_client", recording_client)

    def __enter__(self):
        self.on = True
        return self

    def __exit__(self, *exc):
        self.on = False


def resource_arns(service: str, params: dict, region: str, account: str) -> list[str]:
    """The ARNs a call acts on (the resources IAM authorizes), from its parameters."""
    if service == "s3":
        return [f"arn:aws:s3:::{params['Bucket']}" + (f"/{params['Key']}" if "Key" in params else "")]
    arns = [f"arn:aws:sagemaker:{region}:{account}:{kind}/{params[p].lower()}" for p, kind in _ARN_PARAMS if p in params]
    return arns + ([params["ModelPackageArn"]] if "ModelPackageArn" in params else [])


def allows(statement: dict, arn: str, values: dict[str, str]) -> bool:
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    for resource in resources:
        pattern = subs(resource)
        for name, value in values.items():
            pattern = pattern.replace("${" + name + "}", value)
        if fnmatch.fnmatchcase(arn, pattern):
            return True
    return False


@pytest.fixture(scope="module")
def gate_servers():
    from tests.sagemaker_assets import modellog_servers

    with modellog_servers() as both:
        yield both


def run_the_gate(region: str, recorder: CallRecorder, monkeypatch) -> tuple[Any, str, list]:
    """The sync function run on a schedule and on state changes with the gate on (a test transform,
    the approval mirrored onto the Model Registry), and the gate resumed after approval onto an
    endpoint that serves the model (UpdateEndpoint) and one that does not yet (CreateEndpoint), each
    call recorded. Returns the assets, the account and the calls of the first, plain, sync."""
    from datetime import UTC, datetime

    from saasbridge.runtime import Runtime
    from saasbridge.sagemaker import lambda_sync
    from saasbridge.sagemaker.modellog.deploy import DeployOptions, deploy
    from saasbridge.sagemaker.modellog.ids import approval_id, record_id
    from tests.sagemaker_assets import INSTANCE, create_assets
    from tests.test_sagemaker_modellog import (
        _decide,
        _log,
        _record_assets,
        _second_config,
        _session,
        _supply_test_output,
    )

    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("SAASBRIDGE_MODEL_LOG_GATE", "true")
    monkeypatch.setattr(lambda_sync, "_runtime", None)  # a runtime of this module's API
    session = _session(region)
    assets = create_assets(session)
    account = session.client("sts").get_caller_identity()["Account"]
    now = {"detail-type": "SageMaker Endpoint State Change", "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}

    with recorder:
        assert lambda_sync.lambda_handler({"detail-type": "Scheduled Event"})["ok"]
    plain_sync = list(recorder.calls)
    # churn-config-2 of churn-model: tested (output as SageMaker would write it), requested, approved in
    # the SaaS, mirrored onto the package by the next run, then deployed onto churn-endpoint, which
    # serves the model today.
    _record_assets(region, assets, test_data=True)
    _second_config(session)
    aid = approval_id(assets.model["ModelArn"], assets.model["ModelArn"].replace(":model/churn-model",
                                                                                  ":endpoint-config/churn-config-2"))
    _supply_test_output(region, aid, b"0.12\n0.87\n")
    with recorder:
        (pending,) = lambda_sync.lambda_handler(now)["gated"]
    assert pending["status"] == "pending", pending
    _decide(aid, "approved")
    with recorder:
        assert lambda_sync.lambda_handler({"detail-type": "Scheduled Event"})["mirrored"] == 1
        done = deploy(_log(region), DeployOptions("churn-model", "churn-config-2", poll_seconds=0.01))
        # moto answers UpdateEndpoint with a 500 (not implemented): the call is made, the failure recorded
        assert done.status == "deployed" or "sagemaker:UpdateEndpoint failed: 500" in done.message, done.message
    # other-model, which no endpoint serves: its first configuration creates one.
    session.client("sagemaker").create_endpoint_config(EndpointConfigName="other-config-1", ProductionVariants=[
        {"VariantName": "v1", "ModelName": "other-model", "InstanceType": INSTANCE, "InitialInstanceCount": 1}])
    runtime = Runtime.from_env()
    (written,) = runtime.client().write(runtime.catalog.entity("models"), "update", [{
        "id": record_id(assets.other_model["ModelArn"]), "documentation_url": "https://docs.example.com/other",
        "input_schema": "x:int"}])  # fmt: skip
    assert written.ok, written.error
    with recorder:
        (other,) = lambda_sync.lambda_handler(now)["gated"]
    assert other["status"] == "pending", other
    _decide(other["approval_id"], "approved")
    with recorder:
        assert deploy(_log(region), DeployOptions("other-model", "other-config-1", poll_seconds=0.01)).status == "deployed"
    operations = {(s, op) for s, op, _ in recorder.calls}
    assert {("sagemaker", "CreateTransformJob"), ("sagemaker", "UpdateModelPackage"), ("sagemaker", "UpdateEndpoint"),
            ("sagemaker", "CreateEndpoint"), ("s3", "GetObject")} <= operations  # the scenario reached every step

    return assets, account, plain_sync


def test_the_sync_role_allows_exactly_the_calls_the_function_and_its_gate_make(gate_servers, monkeypatch):
    """Each recorded call mapped to its IAM action and resource, checked against the resolved role."""
    import boto3

    from saasbridge.sagemaker.waiting import ENDPOINT, TRANSFORM_JOB
    from tests.sagemaker_assets import bucket_of

    region = "eu-west-1"
    recorder = CallRecorder(monkeypatch)
    assets, account, plain_sync = run_the_gate(region, recorder, monkeypatch)
    # What the code needs beyond the calls it made here: the timeout rule's calls (waiting.py) on the
    # waits the gate makes, tags given at creation (authorized as AddTags), and ListBucket for a
    # GetObject that may find nothing (S3 answers 403 instead of 404 without it).
    api_name = boto3.client("sagemaker", region_name=region).meta.method_to_api_mapping
    needed = {a for s, op, _ in recorder.calls if (a := iam_action(s, op))}
    needed |= {f"sagemaker:{api_name[m]}" for r in (TRANSFORM_JOB, ENDPOINT) for m in (r.describe, r.stop) if m}
    needed |= {"sagemaker:AddTags" for s, op, params in recorder.calls if op.startswith("Create") and params.get("Tags")}
    needed |= {"s3:ListBucket" for s, op, _ in recorder.calls if (s, op) == ("s3", "GetObject")}
    assert {a.lower() for a in needed} <= known_iam_actions(), needed

    given = {**GATE_ON, "ModelLogGateBucket": bucket_of(region), "ModelLogGatePrefix": "test/"}
    res = resolve_for(translate(load_source(), given), given)["Resources"]
    role = statements(res["ModelLogSyncRole"], res)
    granted = set().union(*(actions(st) for st in role))
    assert needed - granted == set()
    gate = res["ModelLogGatePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert set().union(*(actions(st) for st in gate)) <= needed  # nothing the code does not call

    # Each gate call's resources are in its statement's scope (the sync's own metric-report reads,
    # which it may be denied with a warning, excepted).
    values = {"AWS::Partition": "aws", "AWS::Region": region, "AWS::AccountId": account,
              "ModelLogGateBucket": bucket_of(region), "ModelLogGatePrefix": "test/"}
    reports = {f"arn:aws:s3:::{r['S3Uri'][5:]}" for r in assets.package["ModelMetrics"]["ModelQuality"].values()}
    for service, operation, params in recorder.calls:
        action = iam_action(service, operation)
        scoped = [st for st in gate if action in actions(st)]
        arns = [a for a in resource_arns(service, params, region, account) if a not in reports]
        if operation.startswith("Create") and params.get("Tags"):
            tagging = [st for st in gate if "sagemaker:AddTags" in actions(st)]
            assert any(allows(st, arns[0], values) for st in tagging), (operation, arns[0])
        for arn in arns if scoped else []:
            assert any(allows(st, arn, values) for st in scoped), (operation, arn)
    (listing,) = [st for st in gate if "s3:ListBucket" in actions(st)]
    prefix = listing["Condition"]["StringLike"]["s3:prefix"]["Fn::Sub"].replace("${ModelLogGatePrefix}", "test/")
    keys = [p["Key"] for s, op, p in recorder.calls
            if (s, op) == ("s3", "GetObject") and resource_arns(s, p, region, account)[0] not in reports]
    assert keys and all(fnmatch.fnmatchcase(k, prefix) for k in keys)

    # With the switch off, the plain sync's calls are covered by the role alone.
    off = {**given, "ModelLogGate": "false"}
    res_off = resolve_for(translate(load_source(), off), off)["Resources"]
    granted_off = set().union(*(actions(st) for st in statements(res_off["ModelLogSyncRole"], res_off)))
    plain = {a for s, op, p in plain_sync if (a := iam_action(s, op)) and
             not (s == "s3" and resource_arns(s, p, region, account)[0] in reports)}
    assert plain - granted_off == set()
