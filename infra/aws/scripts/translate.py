"""Prints the CloudFormation that the SAM translator makes of a template, offline.

The same translator `sam validate` runs, with the local CodeUri paths swapped for S3
placeholders; no AWS credentials or network. Usage: translate.py TEMPLATE > OUT.yaml
"""

import sys

from samcli.lib.translate.sam_template_validator import SamTemplateValidator
from samcli.yamlhelper import yaml_parse


class NoManagedPolicies:
    """The template names no managed policies, so no IAM lookup is needed."""

    def load(self):
        return {}


def main(path):
    with open(path, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    validator = SamTemplateValidator(template, NoManagedPolicies(), region="us-east-1")
    sys.stdout.write(validator.get_translated_template_if_valid())


if __name__ == "__main__":
    main(sys.argv[1])
