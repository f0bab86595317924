"""The engine: actions on a project, computed on the fresh state and committed durably."""

from .project import Project

__all__ = ["Project"]
