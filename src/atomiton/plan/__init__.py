"""Planning: a valid Blueprint becomes an ExecutionPlan of Steps with bound ports and priorities."""

from atomiton.plan.model import Binding, ExecutionPlan, Step
from atomiton.plan.planner import build_plan

__all__ = ["Binding", "ExecutionPlan", "Step", "build_plan"]
