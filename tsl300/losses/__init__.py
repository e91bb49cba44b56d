"""Loss families shared by the recipes: point targets, label distributions, pseudo labels,
contrastive alignment and top-k MIL. Every function returns one value per video (B,) so a
padded batch gives each video exactly its own loss; methods average over the batch."""
