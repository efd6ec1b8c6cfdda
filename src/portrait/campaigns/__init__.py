"""Campaigns: audience × channel × variants (+ control holdout) × schedule; delivery exactly
once per user and run; effect and retargeting come with the responses."""

from portrait.campaigns.delivery import LaunchReport
from portrait.campaigns.inputs import Inputs
from portrait.campaigns.planning import Plan
from portrait.campaigns.service import Campaigns
from portrait.errors import CampaignError

__all__ = ["CampaignError", "Campaigns", "Inputs", "LaunchReport", "Plan"]
