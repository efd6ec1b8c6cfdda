"""Models learnt from the profile that the build applies to every user: clustering personas
(:mod:`.personas`). Pure computation (numpy, scikit-learn) below the capabilities, so that the
tag build (``portrait.profile``) assigns with the same code the analyses fit with."""
