"""wasteroute's routing engine: knows nothing of waste or databases."""

from optimizer.params import SolveParams
from optimizer.problem import Client, Facility, Problem, ProblemError, Vehicle
from optimizer.solution import Reason, Route, Solution, Unassigned, Visit

__all__ = [
    "Client", "Facility", "Problem", "ProblemError", "Reason", "Route",
    "Solution", "SolveParams", "Unassigned", "Vehicle", "Visit",
]
