"""What `train.py` needs besides the models and the data: the masked-LM collator (`collator`), run
records (`records`) and model cards (`cards`); Hub upload is `dnalm_core.hub`."""
