"""Problems in two independent variables on a rectangle: u(x, t) evolution equations and steady u(x, y) fields.

The same pipeline as one variable, stage by stage (problem file -> :class:`PDEProblem` ->
residuals and network -> training phases of :mod:`pinn.training` -> solution -> checks,
reference, metrics -> report); the modules here are the stages that differ in two variables.
"""
