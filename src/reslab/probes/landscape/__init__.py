"""Loss landscapes (Li et al. 2018): filter-normalised directions, resumable surfaces on a grid,
and the measures read off a surface."""
