"""What `train.py` needs besides the models and the data: the masked-LM collator (`collator`), run
records (`records`), model cards (`cards`) and Hub upload (`hub`)."""
