"""AWS behaviour that moto does not model, played by the simulator (see the README's simulator section).

Calls from the project's code pass through a botocore hook. Standby transitions, load balancer target
health, the SSM agent, images and launch template versions are answered here, with the timing and the errors
AWS has; everything else (tags, groups, capacity, SNS) is moto's. Every mutating call the project makes is
recorded.

One module per service, each an `AwsModel` mixin holding the calls it answers (`_<service>_<Operation>`):
autoscaling.py, ec2.py (images, launch templates), elbv2.py, ssm.py; model.py holds the hook itself
(dispatch, throttling, the record of calls) and the state the services share; common.py the simulated fleet's
records, the error and the responses handed back to botocore. gaps.py lends the model's answers to the calls
moto lacks altogether to code that runs on plain moto: the handler tests.
"""

from .common import AwsError, SimGroup, SimInstance, error_response, ok_response
from .ec2 import IMAGE_SECONDS
from .model import AwsModel

__all__ = ["IMAGE_SECONDS", "AwsError", "AwsModel", "SimGroup", "SimInstance", "error_response", "ok_response"]
